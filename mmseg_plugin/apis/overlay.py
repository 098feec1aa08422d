"""Draw a predicted mask over its frame: class colours blended in, each sounding class labelled by name.

No paper equation. ``draw_overlay(rgb [H, W, 3] uint8, pred [H, W] int, classes, palette) -> [H, W, 3] uint8``:
pixels of class c > 0 are blended with ``palette[c]`` (``alpha``), the region's outline is drawn in the full colour,
and the class name is written at the centre of its largest region's bounding box (binary tasks: "sounding").
Pure numpy + PIL, so it is cheap enough to run on every frame of a long video.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mmseg_plugin.datasets.palette import voc_palette

__all__ = ["draw_overlay", "overlay_palette"]


def overlay_palette(num_classes: int, palette: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """``[C, 3]`` uint8 colours: the dataset's palette when given, else the VOC palette (white for binary masks)."""
    if palette is not None and len(palette) >= num_classes:
        return np.asarray(palette, dtype=np.uint8)[:num_classes]
    pal = voc_palette(max(num_classes, 2))
    if num_classes == 2:
        pal[1] = (255, 64, 64)
    return pal


def _outline(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def draw_overlay(
    rgb: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    palette: Optional[Sequence[Sequence[int]]] = None,
    alpha: float = 0.5,
    labels: bool = True,
) -> np.ndarray:
    """The frame with the prediction drawn over it (see the module docstring); sizes must match."""
    if rgb.shape[:2] != pred.shape[:2]:
        raise ValueError(f"draw_overlay: frame {rgb.shape[:2]} and mask {pred.shape[:2]} differ in size")
    pal = overlay_palette(len(classes), palette)
    pred = pred.astype(np.int64)
    out = rgb.astype(np.float32)
    present = [int(c) for c in np.unique(pred) if 0 < c < len(pal)]
    for c in present:
        m = pred == c
        out[m] = (1 - alpha) * out[m] + alpha * pal[c]
        out[_outline(m)] = pal[c]
    img = Image.fromarray(out.round().clip(0, 255).astype(np.uint8))
    if labels and present:
        draw = ImageDraw.Draw(img)
        font = ImageFont.load_default()
        for c in present:
            ys, xs = np.nonzero(pred == c)
            name = "sounding" if len(classes) == 2 and c == 1 else str(classes[c])
            x, y = int((xs.min() + xs.max()) / 2), int((ys.min() + ys.max()) / 2)
            box = draw.textbbox((x, y), name, font=font, anchor="mm")
            draw.rectangle(box, fill=tuple(int(v) for v in pal[c]))
            light = int(pal[c].astype(np.int64) @ np.array([299, 587, 114])) > 128_000
            draw.text((x, y), name, fill=(0, 0, 0) if light else (255, 255, 255), font=font, anchor="mm")
    return np.asarray(img)
