"""AVSMetric through mmengine's process / compute_metrics protocol with SegDataSample inputs (hand-computed cases)."""

import math

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

from mmseg_plugin.evaluation import AVSMetric

pytestmark = pytest.mark.mmseg

BINARY_META = dict(classes=("background", "sounding"), palette=[[0, 0, 0], [255, 255, 255]], task="binary")
SEMANTIC_META = dict(classes=("background", "dog", "piano", "car"), palette=[[0, 0, 0]] * 4, task="semantic")


def _sample(pred, gt, logits=None, has_label=True, path="clip/0.jpg"):
    s = SegDataSample(metainfo=dict(img_path=path, has_label=has_label))
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt).long()[None])
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred).long()[None])
    if logits is not None:
        s.seg_logits = PixelData(data=logits)
    return s


def _binary_samples(kind="probabilities"):
    """Three labelled 1x4 frames and one unlabelled one.

    Frame 1: probs (.2, .6, .9, .4), gt (0,1,1,0). With AVSBench's thresholds t_k = k/254 the F curve is
        t <= .2: P 2/4 R 1 -> 13/23; (.2,.4]: P 2/3 -> 13/18; (.4,.6]: P = R = 1 -> 1;
        (.6,.9]: P 1 R 1/2 -> 13/16; > .9: 0
        pred (> .5) (0,1,1,0) -> J 1.
    Frame 2: probs (.7, .3, .1, .8), gt (1,0,0,0): t <= .1: 13/43; (.1,.3]: 13/33; (.3,.7]: P 1/2 -> 13/23; > .7: 0
        pred (1,0,0,1) -> J 1/2.
    Frame 3: probs (.1, .2, .3, .9), gt empty (skipped by F); pred (0,0,0,1) -> complement J 3/4.
    Mean F curve over frames 1-2 peaks on (.4, .6] at (1 + 13/23)/2 = 18/23; first such threshold 102/254.
    """
    probs = [[0.2, 0.6, 0.9, 0.4], [0.7, 0.3, 0.1, 0.8], [0.1, 0.2, 0.3, 0.9], [0.9, 0.9, 0.9, 0.9]]
    gts = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [255, 255, 255, 255]]
    out = []
    for i, (p, g) in enumerate(zip(probs, gts)):
        p = torch.tensor([p])
        if kind == "probabilities":
            scores = p[None]
        elif kind == "logits1":
            scores = torch.logit(p)[None]
        else:  # two-class softmax logits with softmax[1] = p
            scores = torch.stack([torch.zeros_like(p), torch.logit(p)])
        out.append(_sample((p > 0.5).long(), [g], scores, has_label=i < 3, path=f"clip/{i}.jpg"))
    return out


def _run(metric, samples, batch_size, meta):
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch_size):
        batch = [s.to_dict() for s in samples[i : i + batch_size]]  # what mmengine's Evaluator hands to process
        metric.process(None, batch)
    return metric.evaluate(len(samples))


def _approx_dict(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-12), k


# ----------------------------------------------------------------------------------------------- binary
def test_binary_avsbench_hand_case():
    r = _run(AVSMetric(binary_score="probabilities"), _binary_samples(), 2, BINARY_META)
    assert r["avsbench/J"] == pytest.approx(75.0)
    assert r["avsbench/F"] == pytest.approx(100 * 18 / 23)
    assert r["avsbench/F_threshold"] == pytest.approx(102 / 254, abs=1e-6)
    assert r["mJ"] == r["avsbench/J"] and r["mF"] == r["avsbench/F"]
    assert r["J&F"] == pytest.approx((75.0 + 100 * 18 / 23) / 2)
    assert r["num_frames"] == 3 and r["num_frames_unlabelled_skipped"] == 1
    assert r["avsbench/num_empty_gt_frames"] == 1


def test_binary_dataset_level_hand_case():
    # summed areas: background inter 2+2+3 = 7, pred 7, gt 9 -> IoU 7/9, P 1, R 7/9 -> F 91/97, F1 7/8
    # foreground inter 2+1+0 = 3, pred 5, gt 3 -> IoU 3/5, P 3/5, R 1 -> F 0.78/1.18 = 39/59, F1 3/4
    r = _run(AVSMetric(mode="dataset", binary_score="probabilities"), _binary_samples(), 3, BINARY_META)
    assert r["dataset/mIoU"] == pytest.approx(100 * (7 / 9 + 3 / 5) / 2)
    assert r["dataset/mF"] == pytest.approx(100 * (91 / 97 + 39 / 59) / 2)
    assert r["dataset/mF1"] == pytest.approx(100 * (7 / 8 + 3 / 4) / 2)
    assert r["dataset/mIoU_no_bg"] == pytest.approx(60.0)
    assert r["mJ"] == r["dataset/mIoU"] and r["mF"] == r["dataset/mF"]
    assert r["J&F"] == pytest.approx((r["mJ"] + r["mF"]) / 2)
    assert r["avsbench/J"] == pytest.approx(75.0)  # the other convention is logged too


@pytest.mark.parametrize("kind", ["logits1", "logits2"])
def test_binary_logits_inputs_match_probabilities(kind):
    ref = _run(AVSMetric(binary_score="probabilities"), _binary_samples(), 3, BINARY_META)
    r = _run(AVSMetric(binary_score="logits"), _binary_samples(kind), 3, BINARY_META)
    _approx_dict(r, ref)


def test_default_is_batch_size_independent():
    samples = _binary_samples() * 3  # 12 frames, 9 labelled
    r1 = _run(AVSMetric(binary_score="probabilities"), samples, 1, BINARY_META)
    r3 = _run(AVSMetric(binary_score="probabilities"), samples, 3, BINARY_META)
    assert r1 == r3


def test_avsbench_batch_compat_reproduces_batch_dependence():
    samples = _binary_samples()
    # groups of 1 labelled frame: F maxima 1, 13/23, 0 (the empty-GT frame still counts) -> 12/23
    r1 = _run(
        AVSMetric(binary_score="probabilities", f_max_per="batch", batch_size_for_compat=1), samples, 2, BINARY_META
    )
    assert r1["avsbench/F"] == pytest.approx(100 * 12 / 23) and r1["avsbench/num_compat_batches"] == 3
    # groups of 2: (1, 2) -> 18/23 and (3) -> 0: 9/23; J (1 + 1/2)/2 and 3/4 -> 0.75
    r2 = _run(
        AVSMetric(binary_score="probabilities", f_max_per="batch", batch_size_for_compat=2), samples, 1, BINARY_META
    )
    assert r2["avsbench/F"] == pytest.approx(100 * 9 / 23) and r2["avsbench/J"] == pytest.approx(75.0)
    # the evaluation batch size itself does not matter, only batch_size_for_compat
    r2b = _run(
        AVSMetric(binary_score="probabilities", f_max_per="batch", batch_size_for_compat=2), samples, 4, BINARY_META
    )
    assert r2b == r2


def test_empty_gt_rules_through_metric():
    # empty GT + empty prediction: J 1; empty GT + full prediction: J 0; neither enters F -> F 0 (AVSBench)
    samples = [
        _sample([[0, 0]], [[0, 0]], torch.full((1, 1, 2), 0.1), path="a.jpg"),
        _sample([[1, 1]], [[0, 0]], torch.full((1, 1, 2), 0.9), path="b.jpg"),
    ]
    r = _run(AVSMetric(binary_score="probabilities"), samples, 2, BINARY_META)
    assert r["avsbench/J"] == pytest.approx(50.0)
    assert r["avsbench/F"] == 0.0 and r["avsbench/F_threshold"] == -1.0
    assert r["avsbench/num_empty_gt_frames"] == 2
    assert not any(isinstance(v, float) and math.isnan(v) for v in r.values())


def test_process_keeps_only_small_statistics():
    metric = AVSMetric()
    metric.dataset_meta = BINARY_META
    big = _sample(torch.zeros(64, 80, dtype=torch.long), torch.ones(64, 80, dtype=torch.long), torch.zeros(1, 64, 80))
    metric.process(None, [big.to_dict()])
    rec = metric.results[0]
    assert set(rec) == {"labelled", "areas", "pr_counts"}
    assert rec["areas"].shape == (3, 2) and rec["pr_counts"].shape == (2, 255)


# ----------------------------------------------------------------------------------------------- semantic
def _semantic_samples():
    """Frame 1: gt [[0,1],[1,1]], pred [[0,1],[1,0]]; frame 2: gt all 0, pred [[0,0],[0,2]]; C = 4.

    AVSBench: per-class IoU (5/8, 2/3, 0, never seen 0) -> mIoU 31/96; F (c0 (13/23 + 13/14)/2, c1 26/29, 0, 0).
    Dataset: IoU (2/3, 2/3, 0; class 3 invalid) -> 4/9; F0.3 (0.8, 26/29, 0) -> mean over 3; F1 (0.8, 0.8, 0).
    """
    return [
        _sample([[0, 1], [1, 0]], [[0, 1], [1, 1]], path="v/0.jpg"),
        _sample([[0, 0], [0, 2]], [[0, 0], [0, 0]], path="v/1.jpg"),
        _sample([[3, 3], [3, 3]], [[0, 0], [0, 0]], has_label=False, path="v/2.jpg"),
    ]


def test_semantic_avsbench_hand_case():
    r = _run(AVSMetric(), _semantic_samples(), 2, SEMANTIC_META)
    f0 = (13 / 23 + 13 / 14) / 2
    assert r["avsbench/mIoU"] == pytest.approx(100 * 31 / 96)
    assert r["avsbench/mIoU_no_bg"] == pytest.approx(100 * 2 / 9)
    assert r["avsbench/mIoU_seen"] == pytest.approx(100 * 31 / 72)
    assert r["avsbench/mF"] == pytest.approx(100 * (f0 + 26 / 29) / 4)
    assert r["avsbench/num_classes_seen"] == 3
    assert (r["mJ"], r["mF"]) == (r["avsbench/mIoU"], r["avsbench/mF"])
    assert r["num_frames_unlabelled_skipped"] == 1


def test_semantic_dataset_hand_case():
    r = _run(AVSMetric(mode="dataset"), _semantic_samples(), 1, SEMANTIC_META)
    assert r["dataset/mIoU"] == pytest.approx(100 * 4 / 9)
    assert r["dataset/mF"] == pytest.approx(100 * (0.8 + 26 / 29) / 3)
    assert r["dataset/mF1"] == pytest.approx(100 * 1.6 / 3)
    assert r["dataset/num_valid_classes"] == 3
    assert r["J&F"] == pytest.approx((100 * 4 / 9 + 100 * (0.8 + 26 / 29) / 3) / 2)


def test_semantic_rejects_batch_compat():
    metric = AVSMetric(f_max_per="batch", batch_size_for_compat=5)
    with pytest.raises(ValueError, match="binary F only"):
        _run(metric, _semantic_samples(), 2, SEMANTIC_META)


# ----------------------------------------------------------------------------------------------- mmengine round trip
def test_evaluator_round_trip_with_registry():
    init_default_scope("mmseg")
    assert METRICS.get("AVSMetric") is AVSMetric
    evaluator = Evaluator(dict(type="AVSMetric", binary_score="probabilities"))
    evaluator.dataset_meta = BINARY_META
    samples = _binary_samples()
    evaluator.process(data_samples=samples[:2], data_batch=None)  # SegDataSample objects, converted by Evaluator
    evaluator.process(data_samples=samples[2:], data_batch=None)
    r = evaluator.evaluate(len(samples))
    assert r["avsbench/F"] == pytest.approx(100 * 18 / 23) and r["J&F"] == pytest.approx((75 + 100 * 18 / 23) / 2)


# ----------------------------------------------------------------------------------------------- errors
def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="batch_size_for_compat"):
        AVSMetric(f_max_per="batch")
    with pytest.raises(ValueError, match="mode must be"):
        AVSMetric(mode="frame")
    metric = AVSMetric()
    metric.dataset_meta = dict(classes=("a", "b"))
    with pytest.raises(ValueError, match="task is unknown"):
        metric.process(None, [_sample([[0]], [[0]]).to_dict()])
    metric = AVSMetric()
    metric.dataset_meta = BINARY_META
    with pytest.raises(ValueError, match="x.jpg has no seg_logits"):
        metric.process(None, [_sample([[0]], [[1]], path="x.jpg").to_dict()])
    with pytest.raises(ValueError, match="y.jpg.*NaN"):
        metric.process(None, [_sample([[0]], [[1]], torch.full((1, 1, 1), float("nan")), path="y.jpg").to_dict()])
    with pytest.raises(ValueError, match="z.jpg.*shape"):
        metric.process(None, [_sample([[0, 0]], [[1]], torch.zeros(1, 1, 1), path="z.jpg").to_dict()])
    with pytest.raises(ValueError, match="w.jpg.*outside"):
        metric.process(None, [_sample([[0]], [[4]], torch.zeros(1, 1, 1), path="w.jpg").to_dict()])
    metric = AVSMetric()
    with pytest.raises(ValueError, match="none of the 1 evaluated frames"):
        _run(metric, [_sample([[0]], [[0]], has_label=False)], 1, SEMANTIC_META)


def test_default_binary_score_is_what_the_segmentor_stores():
    from mmseg_plugin.models.segmentor import BINARY_SEG_LOGITS

    assert AVSMetric().binary_score == BINARY_SEG_LOGITS == "probabilities"
