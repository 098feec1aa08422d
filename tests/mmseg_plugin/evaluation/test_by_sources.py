"""J&F split by the number of sounding classes (mmseg_plugin/evaluation/by_sources.py, tools/jf_by_sources.py) on
hand-made masks: groups, hand-computed scores, the 'all' group equal to AVSMetric's per-frame formula, a resized
ground truth, and errors that name the file."""

import csv
import os

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_plugin.evaluation.avs_metric_functions import avsbench_semantic_scores, class_areas
from mmseg_plugin.evaluation.by_sources import gt_path_for, scores_by_sources


def _png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode="L").save(path)


def _write(tmp_path, frames, gt_scale=1):
    """frames: list of (gt [H, W], pred [H, W]); clip k frame 0; returns (masks_dir, root)."""
    root, masks = tmp_path / "root", tmp_path / "masks"
    rows = []
    for k, (gt, pred) in enumerate(frames):
        clip = f"v1m/clip{k}"
        _png(str(root / clip / "labels_semantic" / "0.png"), np.kron(gt, np.ones((gt_scale, gt_scale))))
        _png(str(masks / f"clip{k}" / "0.png"), pred)
        rows.append(dict(img_path=f"{clip}/frames/0.jpg", mask=f"clip{k}/0.png", clip_id=f"clip{k}", frame_index=0,
                         has_label=True))  # fmt: skip
    rows.append(dict(img_path="v1m/clip9/frames/1.jpg", mask="clip9/1.png", clip_id="clip9", frame_index=1,
                     has_label=False))  # an unlabelled frame: skipped, its files need not exist  # fmt: skip
    with open(masks / "masks.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return str(masks), str(root)


def _frames():
    z = np.zeros((8, 8), dtype=np.uint8)
    silent = (z.copy(), z.copy())
    one_gt = z.copy()
    one_gt[:4, :4] = 1
    one = (one_gt, one_gt.copy())  # perfect
    two_gt = z.copy()
    two_gt[:4, :4] = 1
    two_gt[4:, 4:] = 2
    two_pred = z.copy()
    two_pred[:4, :4] = 1  # class 2 missed (predicted background)
    return [silent, one, (two_gt, two_pred)]


def test_groups_and_hand_computed_scores(tmp_path):
    frames = _frames()
    masks, root = _write(tmp_path, frames)
    out = scores_by_sources(masks, num_classes=3, root=root)
    assert {g: out[g]["frames"] for g in out} == {"all": 3, "none": 1, "one": 1, "two_or_more": 1}
    # single-source frame: background and class 1 perfect (IoU 1, F 1), class 2 never seen -> 0; mean over 3 classes
    assert out["one"]["J"] == pytest.approx(100 * 2 / 3, abs=0.01) and out["one"]["J&F"] == pytest.approx(66.67, 0.01)
    # 'all' is AVSMetric's per-frame formula on every labelled frame
    areas = torch.stack([class_areas(torch.from_numpy(p.astype(np.int64)), torch.from_numpy(g.astype(np.int64)), 3)
                         for g, p in frames])  # fmt: skip
    s = avsbench_semantic_scores(areas)
    assert out["all"]["J&F"] == pytest.approx(50 * (s["mIoU"] + s["mF"]), abs=0.01)
    assert out["two_or_more"]["J"] < out["one"]["J"]


def test_a_larger_ground_truth_is_resized_to_the_prediction(tmp_path):
    frames = _frames()
    masks, root = _write(tmp_path / "b", frames, gt_scale=2)
    big = scores_by_sources(masks, num_classes=3, root=root)
    masks, root = _write(tmp_path / "c", frames)
    assert big == scores_by_sources(masks, num_classes=3, root=root)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no masks.csv"):
        scores_by_sources(str(tmp_path), 3)
    masks, root = _write(tmp_path, _frames())
    os.remove(gt_path_for("v1m/clip1/frames/0.jpg", root))
    with pytest.raises(FileNotFoundError, match=r"clip1/labels_semantic/0.png"):
        scores_by_sources(masks, 3, root=root)
    with pytest.raises(ValueError, match="not an AVSS-layout frame path"):
        gt_path_for("clip/images/0.jpg")
    masks, root = _write(tmp_path / "d", _frames())
    with pytest.raises(Exception, match="not a class index"):
        scores_by_sources(masks, 2, root=root)  # class 2 in the masks with num_classes=2


def test_tool_prints_and_writes(tmp_path, tool, capsys):
    import json

    masks, root = _write(tmp_path, _frames())
    out = tmp_path / "r.json"
    res = tool("jf_by_sources").main([masks, "--num-classes", "3", "--root", root, "--out", str(out)])
    assert json.loads(out.read_text())[masks]["one"]["frames"] == 1 and res[masks]["all"]["frames"] == 3
    assert "two_or_more" in capsys.readouterr().out
