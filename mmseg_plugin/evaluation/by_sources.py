"""J&F of written test masks, split by how many classes sound in each frame (single- vs multi-source frames).

No paper equation. The paper motivates DDM / DEM by mixtures ("multiple sound sources", §1, §3.2-3.3); this scores
the masks an evaluation run wrote (:mod:`.mask_writer`: ``<masks_dir>/masks.csv`` + one index PNG per frame) in the
AVSBench per-frame convention (:func:`~.avs_metric_functions.avsbench_semantic_scores`, as ``AVSMetric`` with
``mode="avsbench"``), on all labelled frames and on the groups "no sounding class", "one", "two or more" (counted
in the ground truth: the distinct class values other than background 0 and ignore 255).

Ground truth: the AVSS layout's index masks, ``<clip>/labels_semantic/<frame>.png`` beside
``<clip>/frames/<frame>.<ext>`` (the ``img_path`` column; relative paths resolved against ``root``). When a
ground-truth mask's size differs from the written prediction's, it is resized to it with nearest-neighbour
sampling, as the test pipeline's ``Resize`` does for labels. Semantic tasks only; every missing or unreadable file
is an error that names it.
"""

from __future__ import annotations

import csv
import os
import os.path as osp
from typing import Dict

import numpy as np
import torch
from PIL import Image

from mmseg_plugin.datasets.palette import read_index_png

from .avs_metric_functions import avsbench_semantic_scores, class_areas

__all__ = ["GROUPS", "gt_path_for", "scores_by_sources"]

GROUPS = ("all", "none", "one", "two_or_more")


def gt_path_for(img_path: str, root: str = ".") -> str:
    """``<clip>/frames/<t>.<ext>`` -> ``<clip>/labels_semantic/<t>.png`` (relative paths against ``root``)."""
    path = img_path if osp.isabs(img_path) else osp.join(root, img_path)
    frames_dir, name = osp.split(path)
    if osp.basename(frames_dir) != "frames":
        raise ValueError(f"{img_path}: not an AVSS-layout frame path (<clip>/frames/<t>.jpg)")
    return osp.join(osp.dirname(frames_dir), "labels_semantic", osp.splitext(name)[0] + ".png")


def scores_by_sources(masks_dir: str, num_classes: int, root: str = ".") -> Dict[str, dict]:
    """``{group: dict(J, F, J&F (percent), frames)}`` for ``GROUPS`` over the labelled rows of ``masks.csv``.

    ``num_classes`` counts the background (the config's ``num_classes``). A group without frames gets None scores.
    """
    index = osp.join(masks_dir, "masks.csv")
    if not osp.isfile(index):
        raise FileNotFoundError(f"{index}: no masks.csv (write the masks with tools/test.py --save-masks DIR)")
    with open(index, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("has_label") == "True"]
    if not rows:
        raise ValueError(f"{index}: no labelled frame")
    areas, counts = [], []
    for r in rows:
        pred_file = osp.join(masks_dir, r["mask"])
        if not osp.isfile(pred_file):
            raise FileNotFoundError(f"{pred_file}: listed in {index} but missing")
        pred = read_index_png(pred_file, num_classes)
        gt_file = gt_path_for(r["img_path"], root)
        if not osp.isfile(gt_file):
            raise FileNotFoundError(f"{gt_file}: ground truth of {r['img_path']} not found (root={os.fspath(root)})")
        gt = read_index_png(gt_file, num_classes)
        if gt.shape != pred.shape:
            gt = np.asarray(Image.fromarray(gt).resize(pred.shape[::-1], Image.NEAREST))
        areas.append(class_areas(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)),
                                 num_classes))  # fmt: skip
        counts.append(len(set(np.unique(gt).tolist()) - {0, 255}))
    areas_t, n = torch.stack(areas), np.asarray(counts)
    masks = {"all": n >= 0, "none": n == 0, "one": n == 1, "two_or_more": n >= 2}
    out = {}
    for group in GROUPS:
        keep = masks[group]
        if not keep.any():
            out[group] = dict(J=None, F=None, **{"J&F": None}, frames=0)
            continue
        s = avsbench_semantic_scores(areas_t[torch.from_numpy(keep)])
        j, f = 100.0 * s["mIoU"], 100.0 * s["mF"]
        out[group] = dict(J=round(j, 2), F=round(f, 2), **{"J&F": round((j + f) / 2, 2)}, frames=int(keep.sum()))
    return out
