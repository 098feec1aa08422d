"""Per-second class timeline of an inference run: which classes sound when (CSV, JSON and a PNG plot).

No paper equation. Input: one predicted mask per sampled frame with its time ``t`` (s). Second ``s`` of the timeline
gathers the samples with ``s <= t < s + 1``; its value for class ``c`` is the mean fraction of the frame's pixels
predicted as ``c`` over those samples (a second without a sample, possible at rates below 1 per second, is left
empty). A class "sounds" in a second when its fraction is at least ``min_fraction`` (default 0.5 % of the frame).

Files (``<stem>`` = the clip id in DDESegInferencer's output): ``<stem>.csv`` (one row per second: second,
num_samples, one column per class, the sounding classes), ``<stem>.json`` (``{"classes": [...], "min_fraction": f,
"seconds": [{"second": s, "num_samples": n, "fractions": {...}, "sounding": [...]}]}``) and ``<stem>.png`` (classes x
seconds, coloured by the class palette, shaded by fraction).
"""

from __future__ import annotations

import csv
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from .overlay import overlay_palette

__all__ = ["Timeline"]


class Timeline:
    """Accumulates ``add(time_s, pred)`` calls and writes the per-second files."""

    def __init__(
        self, classes: Sequence[str], palette: Optional[Sequence[Sequence[int]]] = None, min_fraction: float = 0.005
    ) -> None:
        self.classes = list(classes)
        self.palette = overlay_palette(len(self.classes), palette)
        self.min_fraction = float(min_fraction)
        self._sum: Dict[int, np.ndarray] = {}
        self._count: Dict[int, int] = {}

    def add(self, time_s: float, pred: np.ndarray) -> None:
        """One sampled frame's mask ``[H, W]`` (class indices) at ``time_s`` seconds."""
        counts = np.bincount(np.asarray(pred, dtype=np.int64).reshape(-1), minlength=len(self.classes))
        frac = counts[: len(self.classes)] / max(1, pred.size)
        s = int(math.floor(time_s + 1e-9))
        self._sum[s] = self._sum.get(s, 0) + frac
        self._count[s] = self._count.get(s, 0) + 1

    def rows(self) -> List[dict]:
        """One dict per second from 0 to the last sampled second (empty seconds have ``num_samples`` 0)."""
        last = max(self._count) if self._count else -1
        out = []
        for s in range(last + 1):
            n = self._count.get(s, 0)
            frac = self._sum[s] / n if n else np.zeros(len(self.classes))
            fractions = {c: round(float(f), 6) for c, f in zip(self.classes, frac)}
            sounding = [c for i, c in enumerate(self.classes) if i > 0 and n and frac[i] >= self.min_fraction]
            out.append(dict(second=s, num_samples=n, fractions=fractions, sounding=sounding))
        return out

    def write(self, folder: str, stem: str = "timeline", plot: bool = True) -> Dict[str, str]:
        """Write ``<stem>.csv`` / ``.json`` (and ``.png`` with ``plot``) into ``folder``; returns their paths."""
        os.makedirs(folder, exist_ok=True)
        rows = self.rows()
        paths = dict(csv=osp.join(folder, f"{stem}.csv"), json=osp.join(folder, f"{stem}.json"))
        with open(paths["csv"], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["second", "num_samples"] + self.classes + ["sounding"])
            for r in rows:
                w.writerow(
                    [r["second"], r["num_samples"]]
                    + [r["fractions"][c] for c in self.classes]
                    + [";".join(r["sounding"])]
                )
        with open(paths["json"], "w") as f:
            json.dump(dict(classes=self.classes, min_fraction=self.min_fraction, seconds=rows), f, indent=1)
        if plot:
            paths["png"] = osp.join(folder, f"{stem}.png")
            self.plot(paths["png"], rows)
        return paths

    def plot(self, path: str, rows: Optional[List[dict]] = None) -> None:
        """Classes (rows, background left out) x seconds: the class colour shaded by its pixel fraction."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.rows() if rows is None else rows
        names = self.classes[1:]
        grid = np.ones((max(1, len(names)), max(1, len(rows)), 3))
        for j, r in enumerate(rows):
            for i, c in enumerate(names):
                f = r["fractions"][c]
                strength = 0.0 if f < self.min_fraction else min(1.0, 0.35 + 0.65 * f / 0.25)
                grid[i, j] = 1 - strength * (1 - self.palette[i + 1] / 255.0)
        fig, ax = plt.subplots(figsize=(min(16, 2 + 0.35 * len(rows)), 0.8 + 0.35 * len(names)), dpi=100)
        ax.imshow(grid, aspect="auto", interpolation="nearest", extent=(0, len(rows), len(names), 0))
        ax.set_yticks(np.arange(len(names)) + 0.5, names)
        ax.set_xlabel("second")
        ax.set_title("sounding classes per second (shade: share of the frame)")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
