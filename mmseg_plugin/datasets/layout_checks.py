"""Up-front layout validation shared by the AVS datasets: metadata files, required columns, files of the first items.

No paper equation. Every failure names the dataset, the file and what was expected, so a wrongly prepared tree fails
at construction time instead of deep inside a dataloader worker.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Dict, Iterable, List, Sequence, Tuple

__all__ = ["LayoutError", "CHECK_MODES", "read_csv_rows", "read_label2idx", "check_item_files", "require_file"]

CHECK_MODES = ("all", "first", "none")


class LayoutError(FileNotFoundError):
    """The on-disk layout does not match what a dataset expects (missing or malformed file)."""


def require_file(path: str, what: str, dataset: str) -> None:
    """Raise :class:`LayoutError` naming ``path`` if it is not an existing file."""
    if not os.path.isfile(path):
        raise LayoutError(f"{dataset}: missing {what}: {path}")


def read_csv_rows(
    path: str, required: Sequence[str], dataset: str, *, header: bool = True
) -> Tuple[List[str], List[Dict[str, str]]]:
    """Read a CSV with a header row and check that every ``required`` column is present.

    Returns:
        ``(fieldnames, rows)`` with each row a dict; raw (positional) rows are available under the keys ``"#0"``,
        ``"#1"``, ... as well, for layouts documented by column position.
    """
    require_file(path, "metadata file", dataset)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            names = next(reader) if header else []
        except StopIteration:
            raise LayoutError(f"{dataset}: metadata file {path} is empty") from None
        names = [n.strip() for n in names]
        missing = [c for c in required if c not in names]
        if missing:
            raise LayoutError(f"{dataset}: metadata file {path} lacks column(s) {missing}; header is {names}")
        rows = []
        for lineno, rec in enumerate(reader, start=2 if header else 1):
            if not rec or all(not v.strip() for v in rec):
                continue
            if header and len(rec) != len(names):
                raise LayoutError(
                    f"{dataset}: metadata file {path} line {lineno} has {len(rec)} fields, header has {len(names)}"
                )
            row = {f"#{i}": v.strip() for i, v in enumerate(rec)}
            row.update({n: v.strip() for n, v in zip(names, rec)})
            row["#line"] = str(lineno)
            rows.append(row)
    return names, rows


def read_label2idx(path: str, dataset: str) -> List[str]:
    """Read an AVSS ``label2idx.json`` (name -> 1-based value) into the class list ordered by index = value - 1.

    The values must be exactly 1..N (background first, value 1 -> index 0).
    """
    require_file(path, "label2idx.json", dataset)
    try:
        with open(path, encoding="utf-8") as f:
            mapping = json.load(f)
    except json.JSONDecodeError as exc:
        raise LayoutError(f"{dataset}: {path} is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not mapping:
        raise LayoutError(f"{dataset}: {path} must hold a non-empty {{name: 1-based index}} object")
    values = sorted(int(v) for v in mapping.values())
    if values != list(range(1, len(mapping) + 1)):
        raise LayoutError(f"{dataset}: {path} values must be exactly 1..{len(mapping)} (1-based), got {values[:5]}...")
    classes = [None] * len(mapping)
    for name, v in mapping.items():
        classes[int(v) - 1] = name
    return classes


def check_item_files(items: Sequence[dict], keys: Iterable[str], mode: str, dataset: str, *, first_n: int = 4) -> int:
    """Check that the files named by ``keys`` of ``items`` exist (``mode``: 'all' | 'first' | 'none').

    'first' checks the first ``first_n`` items. A value may be a path, a list of paths, or None (skipped: an
    unlabelled frame has ``seg_map_path=None`` by design). Returns the number of files checked.

    Raises:
        LayoutError: naming the first missing file, its key and its item (clip id / frame index).
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"check_files must be one of {CHECK_MODES}, got {mode!r}")
    if mode == "none":
        return 0
    subset = items if mode == "all" else items[:first_n]
    keys = list(keys)
    checked = 0
    for idx, item in enumerate(subset):
        for key in keys:
            value = item.get(key)
            paths = value if isinstance(value, (list, tuple)) else [value]
            for p in paths:
                if p is None:
                    continue
                checked += 1
                if not os.path.isfile(p):
                    raise LayoutError(
                        f"{dataset}: missing {key} file {p} (item {idx}: clip {item.get('clip_id')!r}, "
                        f"frame {item.get('frame_index')})"
                    )
    return checked
