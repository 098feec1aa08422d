"""Pure-PyTorch building blocks of the AVS J / F metrics (no mmengine / mmseg imports).

Two families of formulas, both reduced from small per-frame statistics so that nothing larger than a few
hundred integers per frame has to be kept or gathered across processes:

* **AVSBench per-frame** (field notes §3.1, §3.2): the binary J of ``mask_iou`` with its empty-GT rule, the
  binary F of ``Eval_Fmeasure`` (max over 255 thresholds, beta^2 = 0.3, all-black GT frames skipped), and the
  semantic per-frame per-class IoU / F of ``_batch_miou_fscore`` with its ``cls_count`` normalisation.
* **Dataset-level** (CAVP / DDESeg ``compute_metrics_ddp``, field notes §3.3): TP / FP / FN / intersection /
  union summed per class over the whole split; mean over classes with a non-empty union.

Per-frame statistics (all int64):

* ``class_areas(pred [H, W], gt [H, W], C) -> [3, C]``: rows ``(intersection, predicted area, GT area)``;
  union = pred + gt - inter, TP = inter, FP = pred - inter, FN = gt - inter.
* ``pr_curve_counts(fg_prob [H, W], gt_fg [H, W], valid [H, W], thresholds [T]) -> [2, T]``: rows
  ``(TP, predicted positives)`` of ``fg_prob >= threshold`` for every threshold (AVSBench's ``_eval_pr``).

Ignored pixels (``gt == ignore_index``) are removed from every count, in prediction and GT alike (AVSBench's own
labels contain no ignore value; see docs/metrics.md). Shapes: ``N`` frames, ``C`` classes (background = 0;
binary tasks use C = 2), ``T`` thresholds.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    "AVSBENCH_BETA2",
    "AVSBENCH_NUM_THRESHOLDS",
    "AVSBENCH_IOU_EPS",
    "DATASET_EPS",
    "avsbench_thresholds",
    "class_areas",
    "foreground_probability",
    "pr_curve_counts",
    "fbeta",
    "avsbench_f_curves",
    "avsbench_binary_frame_j",
    "avsbench_binary_scores",
    "avsbench_semantic_scores",
    "dataset_level_scores",
]

#: beta^2 of every F score in the AVS literature (AVSBench, CAVP, DDESeg).
AVSBENCH_BETA2 = 0.3
#: Number of thresholds of AVSBench's binary F (``torch.linspace(0, 1 - 1e-10, 255)``).
AVSBENCH_NUM_THRESHOLDS = 255
#: Denominator epsilon of AVSBench's semantic per-frame IoU (``np.spacing(1)``).
AVSBENCH_IOU_EPS = 2.220446049250313e-16
#: Denominator epsilon of DDESeg's dataset-level IoU / precision / recall / F.
DATASET_EPS = 1e-10


def avsbench_thresholds(num: int = AVSBENCH_NUM_THRESHOLDS, device: Optional[torch.device] = None) -> Tensor:
    """AVSBench's F thresholds: ``torch.linspace(0, 1 - 1e-10, num)`` in float32 -> [num].

    In float32, ``1 - 1e-10`` rounds to exactly 1.0, so the last threshold only keeps pixels whose probability
    is exactly 1 (as in AVSBench, whose comparisons are float32 too).
    """
    if num < 2:
        raise ValueError(f"avsbench_thresholds: num must be >= 2, got {num}")
    return torch.linspace(0.0, 1.0 - 1e-10, num, dtype=torch.float32, device=device)


def _check_label_map(name: str, x: Tensor) -> None:
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D [H, W] label map, got shape {tuple(x.shape)}")
    if x.dtype.is_floating_point or x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"{name} must hold integer class indices, got dtype {x.dtype}")


def class_areas(pred: Tensor, gt: Tensor, num_classes: int, ignore_index: Optional[int] = 255) -> Tensor:
    """Per-class intersection / predicted area / GT area of one frame.

    Args:
        pred: [H, W] integer predicted class indices in ``[0, num_classes)``.
        gt: [H, W] integer GT class indices in ``[0, num_classes)`` or ``ignore_index``.
        num_classes: C, background included (binary tasks: 2).
        ignore_index: GT value excluded from every count (None: no ignore value).

    Returns:
        [3, C] int64 on ``pred``'s device: rows ``(intersection, pred_area, gt_area)``.

    Raises:
        ValueError: shapes differ, non-integer maps, out-of-range values, or a frame whose every pixel is ignored.
    """
    _check_label_map("pred", pred)
    _check_label_map("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != gt shape {tuple(gt.shape)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    gt = gt.to(pred.device).long()
    pred = pred.long()
    valid = gt != ignore_index if ignore_index is not None else torch.ones_like(gt, dtype=torch.bool)
    if not bool(valid.any()):
        raise ValueError("every GT pixel of this frame equals ignore_index: the frame has no label to score")
    p, g = pred[valid], gt[valid]
    for name, v in (("gt", g), ("pred", p)):
        bad = (v < 0) | (v >= num_classes)
        if bool(bad.any()):
            vals = torch.unique(v[bad])[:8].tolist()
            raise ValueError(
                f"{name} holds values {vals} outside [0, {num_classes}) (ignore_index={ignore_index}); "
                "check num_classes / the dataset's label decoding"
            )
    inter = torch.bincount(g[p == g], minlength=num_classes)
    pred_area = torch.bincount(p, minlength=num_classes)
    gt_area = torch.bincount(g, minlength=num_classes)
    return torch.stack([inter, pred_area, gt_area]).long()


def foreground_probability(seg_logits: Tensor, score_kind: str = "logits") -> Tensor:
    """Foreground probability map used by the binary F.

    Args:
        seg_logits: [C, H, W] (or [H, W], read as C = 1) scores of one frame.
        score_kind: ``"logits"``: C = 1 -> ``sigmoid``; C > 1 -> ``1 - softmax(dim=0)[0]`` (the summed
            probability of every non-background class; equals ``softmax[1]`` for C = 2, COMBO's choice).
            ``"probabilities"``: the map already holds probabilities (mmseg's ``BaseSegmentor.postprocess_result``
            stores ``sigmoid`` for C = 1): C = 1 -> used as is; C > 1 -> ``1 - x[0]``.

    Returns:
        [H, W] float32.
    """
    if score_kind not in ("logits", "probabilities"):
        raise ValueError(f"score_kind must be 'logits' or 'probabilities', got {score_kind!r}")
    if seg_logits.dim() == 2:
        seg_logits = seg_logits.unsqueeze(0)
    if seg_logits.dim() != 3:
        raise ValueError(f"seg_logits must be [C, H, W] or [H, W], got shape {tuple(seg_logits.shape)}")
    x = seg_logits.float()
    if bool(torch.isnan(x).any()):
        raise ValueError("seg_logits contains NaN")
    if score_kind == "logits":
        if x.shape[0] == 1:
            return torch.sigmoid(x[0])
        return 1.0 - torch.softmax(x, dim=0)[0]
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError("score_kind='probabilities' but seg_logits holds values outside [0, 1]")
    return x[0] if x.shape[0] == 1 else 1.0 - x[0]


def pr_curve_counts(fg_prob: Tensor, gt_fg: Tensor, valid: Tensor, thresholds: Tensor) -> Tensor:
    """TP and predicted-positive counts of ``fg_prob >= t`` for every threshold ``t`` (AVSBench ``_eval_pr``).

    Args:
        fg_prob: [H, W] foreground probability (float).
        gt_fg: [H, W] bool / 0-1 foreground GT.
        valid: [H, W] bool, pixels to count.
        thresholds: [T] ascending.

    Returns:
        [2, T] int64: rows ``(tp, pred_pos)``.
    """
    if fg_prob.shape != gt_fg.shape or fg_prob.shape != valid.shape:
        raise ValueError(
            f"fg_prob {tuple(fg_prob.shape)}, gt_fg {tuple(gt_fg.shape)} and valid {tuple(valid.shape)} must match"
        )
    thresholds = thresholds.to(device=fg_prob.device, dtype=fg_prob.dtype)
    num = thresholds.numel()
    p = fg_prob[valid]
    g = gt_fg[valid].bool()
    # k = number of thresholds <= p; the pixel is positive for threshold indices 0..k-1.
    k = torch.searchsorted(thresholds.contiguous(), p.contiguous(), right=True)

    def _count_ge(idx: Tensor) -> Tensor:
        hist = torch.bincount(idx, minlength=num + 1)
        return hist.flip(0).cumsum(0).flip(0)[1:]

    return torch.stack([_count_ge(k[g]), _count_ge(k)]).long()


def fbeta(precision: Tensor, recall: Tensor, beta2: float = AVSBENCH_BETA2) -> Tensor:
    """``(1 + beta2) P R / (beta2 P + R)`` with NaN (0 / 0) set to 0, as AVSBench."""
    f = (1.0 + beta2) * precision * recall / (beta2 * precision + recall)
    return torch.nan_to_num(f, nan=0.0)


def avsbench_f_curves(pr_counts: Tensor, gt_fg_area: Tensor, beta2: float = AVSBENCH_BETA2) -> Tensor:
    """Per-frame F curves of AVSBench ``Eval_Fmeasure``: [N, 2, T] counts + [N] GT areas -> [N, T] float64.

    precision = tp / (pred_pos + 1e-20), recall = tp / (gt_area + 1e-20), F = fbeta(P, R), NaN -> 0.
    """
    c = pr_counts.double()
    tp, pred_pos = c[:, 0], c[:, 1]
    precision = tp / (pred_pos + 1e-20)
    recall = tp / (gt_fg_area.double()[:, None] + 1e-20)
    return fbeta(precision, recall, beta2)


def avsbench_binary_frame_j(areas: Tensor) -> Tensor:
    """AVSBench ``mask_iou`` per frame from [N, 3, 2] class areas -> [N] float64.

    Non-empty GT: foreground IoU. Empty GT: IoU of the complements, |not pred and not gt| / |not pred or not gt|
    = (background-predicted pixels) / (all valid pixels) = the background-class IoU, so 1 only for an all-empty
    prediction. (AVSBench adds 1e-7 to the denominator; the relative difference is < 1e-7 and not reproduced.)
    """
    if areas.dim() != 3 or areas.shape[1:] != (3, 2):
        raise ValueError(f"binary class areas must be [N, 3, 2], got {tuple(areas.shape)}")
    a = areas.double()
    inter, union = a[:, 0], a[:, 1] + a[:, 2] - a[:, 0]
    empty = areas[:, 2, 1] == 0
    cls = (~empty).long()
    rows = torch.arange(a.shape[0])
    return inter[rows, cls] / union[rows, cls]


def _groups(n: int, group_size: Optional[int]) -> Sequence[slice]:
    if group_size is None:
        return [slice(0, n)]
    return [slice(s, min(s + group_size, n)) for s in range(0, n, group_size)]


def avsbench_binary_scores(
    areas: Tensor,
    pr_counts: Tensor,
    thresholds: Tensor,
    beta2: float = AVSBENCH_BETA2,
    group_size: Optional[int] = None,
) -> Dict[str, float]:
    """AVSBench binary J and F over N labelled frames (fractions in [0, 1]).

    Args:
        areas: [N, 3, 2] class areas (``class_areas`` with C = 2).
        pr_counts: [N, 2, T] ``pr_curve_counts`` of each frame.
        thresholds: [T] the thresholds the counts were taken at.
        beta2: beta^2 of F.
        group_size: None (default, batch-size independent): J = mean of per-frame J; F = max over thresholds of
            the mean F curve of all frames with a non-empty GT (AVSBench's ``Eval_Fmeasure`` run once on the whole
            split). An int B: AVSBench's test loop with batches of B consecutive frames: per batch J = mean J and
            F = max of the batch's mean F curve (0 when every GT of the batch is empty, a batch that still counts),
            then both averaged over batches.

    Returns:
        dict with ``J``, ``F``, ``F_threshold`` (threshold of the max; None in group mode), ``num_frames``,
        ``num_empty_gt_frames``, ``num_groups``.
    """
    n = areas.shape[0]
    if pr_counts.shape[0] != n:
        raise ValueError(f"areas has {n} frames but pr_counts has {pr_counts.shape[0]}")
    gt_fg = areas[:, 2, 1]
    nonempty = gt_fg > 0
    j = avsbench_binary_frame_j(areas) if n else torch.zeros(0, dtype=torch.float64)
    curves = avsbench_f_curves(pr_counts, gt_fg, beta2) if n else torch.zeros(0, thresholds.numel())
    out: Dict[str, float] = {"num_frames": n, "num_empty_gt_frames": int((~nonempty).sum())}
    if n == 0:
        out.update(J=0.0, F=0.0, F_threshold=None, num_groups=0)
        return out
    if group_size is None:
        if bool(nonempty.any()):
            mean_curve = curves[nonempty].mean(0)
            best = int(torch.argmax(mean_curve))
            f, thr = float(mean_curve[best]), float(thresholds[best])
        else:
            f, thr = 0.0, None
        out.update(J=float(j.mean()), F=f, F_threshold=thr, num_groups=1)
        return out
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    js, fs = [], []
    for sl in _groups(n, group_size):
        js.append(float(j[sl].mean()))
        ne = nonempty[sl]
        fs.append(float(curves[sl][ne].mean(0).max()) if bool(ne.any()) else 0.0)
    out.update(J=sum(js) / len(js), F=sum(fs) / len(fs), F_threshold=None, num_groups=len(js))
    return out


def _mean_over(values: Tensor, mask: Tensor) -> float:
    return float(values[mask].mean()) if bool(mask.any()) else 0.0


def avsbench_semantic_scores(areas: Tensor, beta2: float = AVSBENCH_BETA2) -> Dict[str, object]:
    """AVSBench AVSS per-frame per-class IoU / F (``_batch_miou_fscore`` + test.py), fractions in [0, 1].

    For each frame and class: IoU_c = inter / (eps + union); F_c = fbeta(inter / pred_area, inter / gt_area) with
    NaN -> 0 (so 0 whenever the class is absent from the prediction or from the GT); ``cls_count_c`` += 1 when the
    class is in prediction or GT (union > 0). Sums over the frames, then per class ``sum / cls_count`` (NaN -> 0),
    and the mean over classes.

    Args:
        areas: [N, 3, C] class areas.

    Returns:
        dict: ``mIoU`` (mean over all C classes, background included, never-seen classes count 0: the number AVSBench
        reports), ``mIoU_no_bg`` (mean over classes 1..C-1, never-seen count 0), ``mIoU_seen`` (mean over classes with
        cls_count > 0, background included), the same three for ``mF``, ``num_classes_seen``, and the per-class
        ``IoU_per_class`` / ``F_per_class`` / ``cls_count`` tensors.
    """
    if areas.dim() != 3 or areas.shape[1] != 3:
        raise ValueError(f"class areas must be [N, 3, C], got {tuple(areas.shape)}")
    a = areas.double()
    inter, pred_area, gt_area = a[:, 0], a[:, 1], a[:, 2]
    union = pred_area + gt_area - inter
    iou_sum = (inter / (AVSBENCH_IOU_EPS + union)).sum(0)
    f_sum = fbeta(inter / pred_area, inter / gt_area, beta2).sum(0)
    cls_count = (union > 0).sum(0).double()
    iou_pc = torch.nan_to_num(iou_sum / cls_count, nan=0.0)
    f_pc = torch.nan_to_num(f_sum / cls_count, nan=0.0)
    c = areas.shape[2]
    seen = cls_count > 0
    fg = torch.arange(c) > 0
    return {
        "mIoU": float(iou_pc.mean()) if c else 0.0,
        "mIoU_no_bg": float(iou_pc[1:].mean()) if c > 1 else 0.0,
        "mIoU_seen": _mean_over(iou_pc, seen),
        "mF": float(f_pc.mean()) if c else 0.0,
        "mF_no_bg": float(f_pc[1:].mean()) if c > 1 else 0.0,
        "mF_seen": _mean_over(f_pc, seen),
        "num_classes_seen": int(seen.sum()),
        "num_fg_classes_seen": int((seen & fg).sum()),
        "IoU_per_class": iou_pc,
        "F_per_class": f_pc,
        "cls_count": cls_count,
    }


def dataset_level_scores(area_sums: Tensor, beta2: float = AVSBENCH_BETA2) -> Dict[str, object]:
    """CAVP / DDESeg dataset-level scores from [3, C] class areas summed over the split (fractions in [0, 1]).

    TP = inter, FP = pred - inter, FN = gt - inter, union = pred + gt - inter. Valid classes: union > 0.
    IoU_c = inter / (union + eps); P = TP / (TP + FP + eps); R = TP / (TP + FN + eps);
    F_beta = (1 + beta2) P R / (beta2 P + R + eps); F1 = 2 P R / (P + R + eps); eps = 1e-10 (DDESeg).
    Means over the valid classes, background included (DDESeg); the ``_no_bg`` variants over valid classes >= 1.

    Returns:
        dict: ``mIoU``, ``mF`` (F_beta), ``mF1``, ``mIoU_no_bg``, ``mF_no_bg``, ``mF1_no_bg``, ``num_valid_classes``,
        per-class ``IoU_per_class`` / ``F_per_class`` / ``F1_per_class`` / ``valid``.
    """
    if area_sums.dim() != 2 or area_sums.shape[0] != 3:
        raise ValueError(f"summed class areas must be [3, C], got {tuple(area_sums.shape)}")
    a = area_sums.double()
    inter, pred_area, gt_area = a[0], a[1], a[2]
    union = pred_area + gt_area - inter
    tp, fp, fn = inter, pred_area - inter, gt_area - inter
    eps = DATASET_EPS
    valid = union > 0
    iou = torch.where(valid, inter / (union + eps), torch.zeros_like(inter))
    precision = torch.where(valid, tp / (tp + fp + eps), torch.zeros_like(tp))
    recall = torch.where(valid, tp / (tp + fn + eps), torch.zeros_like(tp))
    f_beta = torch.where(valid, (1 + beta2) * precision * recall / (beta2 * precision + recall + eps), 0.0 * tp)
    f1 = torch.where(valid, 2 * precision * recall / (precision + recall + eps), 0.0 * tp)
    fgv = valid & (torch.arange(a.shape[1]) > 0)
    return {
        "mIoU": _mean_over(iou, valid),
        "mF": _mean_over(f_beta, valid),
        "mF1": _mean_over(f1, valid),
        "mIoU_no_bg": _mean_over(iou, fgv),
        "mF_no_bg": _mean_over(f_beta, fgv),
        "mF1_no_bg": _mean_over(f1, fgv),
        "num_valid_classes": int(valid.sum()),
        "IoU_per_class": iou,
        "F_per_class": f_beta,
        "F1_per_class": f1,
        "valid": valid,
    }
