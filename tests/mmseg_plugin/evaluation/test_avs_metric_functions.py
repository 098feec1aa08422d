"""Hand-computed checks of the pure-PyTorch AVS metric formulas (mmseg_plugin/evaluation/avs_metric_functions.py)."""

import math

import pytest
import torch

from mmseg_plugin.evaluation.avs_metric_functions import (
    avsbench_binary_frame_j,
    avsbench_binary_scores,
    avsbench_f_curves,
    avsbench_semantic_scores,
    avsbench_thresholds,
    class_areas,
    dataset_level_scores,
    fbeta,
    foreground_probability,
    pr_curve_counts,
)

pytestmark = pytest.mark.mmseg


def _binary_areas(pred, gt):
    return class_areas(torch.tensor(pred), torch.tensor(gt), 2)


# ----------------------------------------------------------------------------------------------- per-frame statistics
def test_class_areas_hand_case_with_ignore():
    # valid pixels (gt != 255): pred (0, 1, 1) vs gt (0, 1, 2)
    # inter: c0 1, c1 1, c2 0; pred area: (1, 2, 0); gt area: (1, 1, 1); the ignored pixel's pred (2) is not counted
    pred = torch.tensor([[0, 1], [1, 2]])
    gt = torch.tensor([[0, 1], [2, 255]])
    a = class_areas(pred, gt, 3)
    assert a.dtype == torch.int64
    assert a.tolist() == [[1, 1, 0], [1, 2, 0], [1, 1, 1]]


@pytest.mark.parametrize(
    "pred, gt, msg",
    [
        ([[0, 3]], [[0, 1]], "pred holds values \\[3\\]"),  # prediction class 3 with C = 3
        ([[0, 1]], [[0, 7]], "gt holds values \\[7\\]"),  # unknown GT class (255 is the ignore value, 7 is not)
        ([[0, 1]], [[0, 1, 1]], "shape"),
        ([[0, 1]], [[255, 255]], "ignore_index"),  # nothing left to score
    ],
)
def test_class_areas_rejects_bad_input(pred, gt, msg):
    with pytest.raises(ValueError, match=msg):
        class_areas(torch.tensor(pred), torch.tensor(gt), 3)


def test_class_areas_rejects_float_maps():
    with pytest.raises(ValueError, match="integer"):
        class_areas(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 2)


def test_thresholds_match_avsbench():
    th = avsbench_thresholds()
    assert th.shape == (255,) and th.dtype == torch.float32
    assert th[0] == 0.0 and th[-1] == 1.0  # 1 - 1e-10 is 1.0 in float32
    assert torch.allclose(th[1], torch.tensor(1.0 / 254))


def test_pr_curve_counts_hand_case():
    # probs (0, 0.5, 1), gt (0, 1, 1), thresholds (0, 0.5, 1), comparisons are ">=" as AVSBench:
    # t=0: all 3 positive, tp 2; t=0.5: 2 positive, tp 2; t=1: 1 positive, tp 1
    p = torch.tensor([[0.0, 0.5, 1.0]])
    g = torch.tensor([[0, 1, 1]])
    c = pr_curve_counts(p, g == 1, torch.ones_like(g, dtype=torch.bool), torch.tensor([0.0, 0.5, 1.0]))
    assert c.tolist() == [[2, 2, 1], [3, 2, 1]]


def test_pr_curve_counts_equal_brute_force_and_respect_valid():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(17, 23, generator=g)
    gt = torch.rand(17, 23, generator=g) > 0.6
    valid = torch.rand(17, 23, generator=g) > 0.1
    th = avsbench_thresholds()
    c = pr_curve_counts(p, gt, valid, th)
    tp = torch.stack([((p >= t) & gt & valid).sum() for t in th])
    pos = torch.stack([((p >= t) & valid).sum() for t in th])
    assert torch.equal(c[0], tp) and torch.equal(c[1], pos)


def test_foreground_probability_definitions():
    # C = 1: sigmoid(0) = 0.5
    assert foreground_probability(torch.zeros(1, 1, 1)).item() == pytest.approx(0.5)
    # C = 2, logits (0, ln 3): softmax = (1/4, 3/4) -> 1 - p_bg = 0.75
    x = torch.tensor([0.0, math.log(3.0)]).view(2, 1, 1)
    assert foreground_probability(x).item() == pytest.approx(0.75)
    # C = 3, logits (ln 2, 0, 0): p_bg = 2/4 -> summed foreground 0.5
    x = torch.tensor([math.log(2.0), 0.0, 0.0]).view(3, 1, 1)
    assert foreground_probability(x).item() == pytest.approx(0.5)
    # probabilities as mmseg's postprocess_result stores them for C = 1: used as is; C = 2: 1 - p_bg
    assert foreground_probability(torch.full((1, 1, 1), 0.3), "probabilities").item() == pytest.approx(0.3)
    assert foreground_probability(torch.tensor([0.2, 0.8]).view(2, 1, 1), "probabilities").item() == pytest.approx(0.8)


def test_foreground_probability_rejects_nan_and_out_of_range():
    with pytest.raises(ValueError, match="NaN"):
        foreground_probability(torch.full((1, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        foreground_probability(torch.full((1, 2, 2), 3.0), "probabilities")
    with pytest.raises(ValueError, match="score_kind"):
        foreground_probability(torch.zeros(1, 2, 2), "softmax")


def test_fbeta_hand_values_and_nan():
    # P = 0.5, R = 1: 1.3 * 0.5 / (0.15 + 1) = 13/23; P = R = 0: 0/0 -> 0 (AVSBench NaN rule)
    f = fbeta(torch.tensor([0.5, 0.0]), torch.tensor([1.0, 0.0]))
    assert f[0].item() == pytest.approx(13 / 23) and f[1].item() == 0.0


# ----------------------------------------------------------------------------------------------- AVSBench binary
def test_binary_frame_j_empty_gt_rule():
    # A: gt (1,1,0,0), pred (1,0,1,0): fg inter 1, union 3 -> 1/3
    # B: empty gt, pred (1,0,0,0): complement IoU = background-predicted 3 / all 4 = 0.75
    # C: empty gt, empty pred -> 1
    # D: gt (1,0,0,0), empty pred -> 0
    areas = torch.stack(
        [
            _binary_areas([[1, 0, 1, 0]], [[1, 1, 0, 0]]),
            _binary_areas([[1, 0, 0, 0]], [[0, 0, 0, 0]]),
            _binary_areas([[0, 0, 0, 0]], [[0, 0, 0, 0]]),
            _binary_areas([[0, 0, 0, 0]], [[1, 0, 0, 0]]),
        ]
    )
    j = avsbench_binary_frame_j(areas)
    assert j.tolist() == pytest.approx([1 / 3, 0.75, 1.0, 0.0])


def _three_frames():
    """Frames for the binary F hand case, thresholds (0, 0.5, 1).

    Frame 1: probs (0.2, 0.6, 0.9, 0.4), gt (0,1,1,0): t=0 P=2/4 R=1 F=13/23; t=0.5 P=R=1 F=1; t=1 nothing -> 0.
              pred (> 0.5) = (0,1,1,0) -> J = 1.
    Frame 2: probs (0.7, 0.3, 0.1, 0.8), gt (1,0,0,0): t=0 P=1/4 R=1 F=1.3*0.25/1.075=13/43; t=0.5 P=1/2 R=1 F=13/23;
              t=1 -> 0. pred = (1,0,0,1) -> J = 1/2.
    Frame 3: probs (0.1, 0.2, 0.3, 0.9), gt empty: skipped by F; pred (0,0,0,1) -> complement J = 3/4.
    """
    probs = [[0.2, 0.6, 0.9, 0.4], [0.7, 0.3, 0.1, 0.8], [0.1, 0.2, 0.3, 0.9]]
    gts = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    th = torch.tensor([0.0, 0.5, 1.0])
    areas, counts = [], []
    for p, g in zip(probs, gts):
        p, g = torch.tensor([p]), torch.tensor([g])
        areas.append(class_areas((p > 0.5).long(), g, 2))
        counts.append(pr_curve_counts(p, g == 1, torch.ones_like(g, dtype=torch.bool), th))
    return torch.stack(areas), torch.stack(counts), th


def test_binary_f_curves_hand_case():
    areas, counts, _ = _three_frames()
    curves = avsbench_f_curves(counts[:2], areas[:2, 2, 1])
    assert curves[0].tolist() == pytest.approx([13 / 23, 1.0, 0.0])
    assert curves[1].tolist() == pytest.approx([13 / 43, 13 / 23, 0.0])


def test_binary_scores_dataset_default():
    # mean F curve over frames 1-2 (frame 3 has an empty GT): t=0.5 -> (1 + 13/23)/2 = 18/23, the max
    # J = (1 + 1/2 + 3/4) / 3 = 0.75
    areas, counts, th = _three_frames()
    s = avsbench_binary_scores(areas, counts, th)
    assert s["F"] == pytest.approx(18 / 23)
    assert s["F_threshold"] == 0.5
    assert s["J"] == pytest.approx(0.75)
    assert s["num_empty_gt_frames"] == 1 and s["num_frames"] == 3


def test_binary_scores_avsbench_batches_depend_on_batch_size():
    areas, counts, th = _three_frames()
    # batch size 1: per-frame maxima 1, 13/23, and 0 for the all-empty batch (it still counts): (36/23)/3 = 12/23
    s1 = avsbench_binary_scores(areas, counts, th, group_size=1)
    assert s1["F"] == pytest.approx(12 / 23) and s1["num_groups"] == 3
    # batch size 2: batch (1,2) -> 18/23, batch (3) -> 0: 9/23; J = mean of batch means (0.75, 0.75) = 0.75
    s2 = avsbench_binary_scores(areas, counts, th, group_size=2)
    assert s2["F"] == pytest.approx(9 / 23) and s2["J"] == pytest.approx(0.75)
    # batch size 3 = the whole split = the default convention
    s3 = avsbench_binary_scores(areas, counts, th, group_size=3)
    assert s3["F"] == pytest.approx(avsbench_binary_scores(areas, counts, th)["F"])
    # J with unequal batches: frames (1,2) mean 0.75 and frame 3 0.75 -> unchanged here; reorder to show it moves:
    # order (2, 1, 3) in batches of 2: (1/2 + 1)/2 = 0.75 and 0.75 -> 0.75; order (1, 3, 2): (1 + .75)/2, 1/2 -> 0.6875
    perm = torch.tensor([0, 2, 1])
    s_perm = avsbench_binary_scores(areas[perm], counts[perm], th, group_size=2)
    assert s_perm["J"] == pytest.approx(0.6875)
    # F for (1,3),(2): max(1) = 1 and 13/23 -> (1 + 13/23)/2 = 18/23
    assert s_perm["F"] == pytest.approx(18 / 23)


def test_binary_scores_all_empty_gt_gives_zero_f():
    areas, counts, th = _three_frames()
    s = avsbench_binary_scores(areas[2:], counts[2:], th)
    assert s["F"] == 0.0 and s["F_threshold"] is None and s["J"] == pytest.approx(0.75)


# ----------------------------------------------------------------------------------------------- AVSBench semantic
def _semantic_frames():
    """Two 2x2 frames, C = 4 (class 3 never appears).

    Frame 1: gt [[0,1],[1,1]], pred [[0,1],[1,0]]
        c0: inter 1, pred 2, gt 1 -> union 2, IoU 1/2; P 1/2, R 1 -> F 13/23
        c1: inter 2, pred 2, gt 3 -> union 3, IoU 2/3; P 1, R 2/3 -> F 1.3*(2/3)/(0.3+2/3) = 26/29
    Frame 2: gt all 0, pred [[0,0],[0,2]]
        c0: inter 3, pred 3, gt 4 -> IoU 3/4; P 1, R 3/4 -> F 0.975/1.05 = 13/14
        c2: inter 0, pred 1, gt 0 -> union 1 (counted), IoU 0, F 0 (R = 0/0 -> NaN -> 0)
    """
    f1 = class_areas(torch.tensor([[0, 1], [1, 0]]), torch.tensor([[0, 1], [1, 1]]), 4)
    f2 = class_areas(torch.tensor([[0, 0], [0, 2]]), torch.tensor([[0, 0], [0, 0]]), 4)
    return torch.stack([f1, f2])


def test_semantic_avsbench_hand_case():
    s = avsbench_semantic_scores(_semantic_frames())
    # per class: IoU (1/2+3/4)/2 = 5/8, 2/3, 0/1 = 0, never seen -> 0; cls_count (2, 1, 1, 0)
    assert s["cls_count"].tolist() == [2, 1, 1, 0]
    assert s["IoU_per_class"].tolist() == pytest.approx([5 / 8, 2 / 3, 0.0, 0.0])
    # mIoU over all 4 classes: (5/8 + 2/3) / 4 = 31/96; without background: (2/3 + 0 + 0)/3 = 2/9;
    # over the 3 seen classes: 31/72
    assert s["mIoU"] == pytest.approx(31 / 96)
    assert s["mIoU_no_bg"] == pytest.approx(2 / 9)
    assert s["mIoU_seen"] == pytest.approx(31 / 72)
    f0 = (13 / 23 + 13 / 14) / 2
    assert s["F_per_class"].tolist() == pytest.approx([f0, 26 / 29, 0.0, 0.0])
    assert s["mF"] == pytest.approx((f0 + 26 / 29) / 4)
    assert s["mF_no_bg"] == pytest.approx((26 / 29) / 3)
    assert s["num_classes_seen"] == 3 and s["num_fg_classes_seen"] == 2


def test_semantic_avsbench_has_no_nan_for_absent_classes():
    s = avsbench_semantic_scores(_semantic_frames())
    for key in ("IoU_per_class", "F_per_class"):
        assert not torch.isnan(s[key]).any()


# ----------------------------------------------------------------------------------------------- dataset level
def test_dataset_level_hand_case():
    # summed over the two frames: c0 inter 4, pred 5, gt 5 -> union 6, IoU 2/3, P = R = 4/5 -> F0.3 = F1 = 0.8
    # c1 inter 2, pred 2, gt 3 -> IoU 2/3, P 1, R 2/3 -> F0.3 26/29, F1 0.8
    # c2 inter 0, pred 1, gt 0 -> union 1 (valid), IoU 0, F 0; c3 union 0 -> not valid
    d = dataset_level_scores(_semantic_frames().sum(0))
    assert d["valid"].tolist() == [True, True, True, False]
    assert d["mIoU"] == pytest.approx(4 / 9, abs=1e-9)
    assert d["mF"] == pytest.approx((0.8 + 26 / 29) / 3, abs=1e-9)
    assert d["mF1"] == pytest.approx(1.6 / 3, abs=1e-9)
    assert d["mIoU_no_bg"] == pytest.approx(1 / 3, abs=1e-9)
    assert d["mF_no_bg"] == pytest.approx((26 / 29) / 2, abs=1e-9)
    assert d["num_valid_classes"] == 3


def test_dataset_level_differs_from_avsbench_on_same_frames():
    # the two conventions genuinely differ (the CAVP README gap): 4/9 vs 31/96 here
    frames = _semantic_frames()
    assert dataset_level_scores(frames.sum(0))["mIoU"] != pytest.approx(avsbench_semantic_scores(frames)["mIoU"])


def test_dataset_level_no_valid_class_is_zero_not_nan():
    d = dataset_level_scores(torch.zeros(3, 4, dtype=torch.long))
    assert d["mIoU"] == 0.0 and d["mF"] == 0.0 and d["num_valid_classes"] == 0
