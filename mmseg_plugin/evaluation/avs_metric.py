"""``AVSMetric``: the J / F metrics of audio-visual segmentation as an mmengine ``BaseMetric`` (paper §4 "Metrics").

Modes (docs/metrics.md has every formula and how each relates to published numbers):

* ``"avsbench"`` (default): AVSBench's per-frame metrics. Binary tasks (S4 / MS3): J = mean per-frame IoU of the
  predicted mask with the empty-GT complement rule; F = max over 255 thresholds (beta^2 = 0.3) of the mean per-frame
  F curve of the frames with a non-empty GT. Semantic tasks (AVSS / VPO): per-frame per-class IoU / F at the argmax,
  normalised per class by the number of frames where the class is in prediction or GT, mean over all classes.
* ``"dataset"``: CAVP / DDESeg dataset-level accumulation of TP / FP / FN / intersection / union per class; means
  over the classes with a non-empty union, background included.

Both report J&F = (J + F) / 2. All numbers are percentages.

``process`` keeps per frame only [3, C] int64 class areas and, for the binary F, a [2, 255] int64 PR-count table;
``compute_metrics`` reduces them in dataset order, so results do not depend on the evaluation batch size (unless the
AVSBench-compatible ``f_max_per="batch"`` convention is asked for) and distributed collection stays small.

Inputs per data sample (a ``SegDataSample`` or the dict mmengine's ``Evaluator`` makes of it):

* ``pred_sem_seg.data``: [1, H, W] (or [H, W]) class indices; binary tasks 0/1.
* ``gt_sem_seg.data``: [1, H, W] int64 class indices, ``ignore_index`` (255) excluded; same H, W as the prediction.
* ``seg_logits.data``: [C, H, W] scores; needed only for the binary F of ``"avsbench"``. The default
  ``binary_score`` is what ``AVSSegmentor`` stores (``mmseg_plugin.models.segmentor.BINARY_SEG_LOGITS``:
  ``"probabilities"``, sigmoid probabilities for C = 1 as mmseg's ``BaseSegmentor.postprocess_result``; C > 1 ->
  1 - x[0]). ``binary_score="logits"`` for raw scores: C = 1 -> sigmoid, C > 1 -> 1 - softmax[0].
* metainfo ``has_label`` (False: skipped and counted) and ``img_path`` (named in errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from ..models.segmentor import BINARY_SEG_LOGITS
from .avs_metric_functions import (
    AVSBENCH_BETA2,
    AVSBENCH_NUM_THRESHOLDS,
    avsbench_binary_scores,
    avsbench_semantic_scores,
    avsbench_thresholds,
    class_areas,
    dataset_level_scores,
    foreground_probability,
    pr_curve_counts,
)

__all__ = ["AVSMetric"]

_MODES = ("avsbench", "dataset")
_TASKS = ("binary", "semantic")


def _field(sample: Any, key: str) -> Any:
    """``sample[key]`` for a dict or a BaseDataElement; None when absent."""
    if isinstance(sample, Mapping):
        return sample.get(key)
    return sample.get(key, None) if hasattr(sample, "get") else getattr(sample, key, None)


def _pixel_tensor(value: Any) -> torch.Tensor:
    """The ``data`` tensor of a PixelData or of its dict form."""
    data = value.get("data") if isinstance(value, Mapping) else getattr(value, "data", None)
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"expected PixelData with a tensor 'data', got {type(value).__name__}")
    return data


def _label_map(value: Any, name: str, where: str, owner: str = "AVSMetric") -> torch.Tensor:
    t = _pixel_tensor(value)
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 2:
        raise ValueError(f"{owner}: {name} of {where} must be [1, H, W] or [H, W], got {tuple(t.shape)}")
    return t


@METRICS.register_module()
class AVSMetric(BaseMetric):
    """J, F and J&F of audio-visual segmentation in the AVSBench per-frame or the dataset-level convention.

    Args:
        mode: ``"avsbench"`` or ``"dataset"``: which convention fills the main keys ``mJ``, ``mF``, ``J&F``.
        report: conventions whose prefixed keys (``avsbench/...``, ``dataset/...``) are reported; ``mode`` is always
            included. Default both, so a run logs the per-frame numbers and the CAVP / DDESeg-style ones together.
        task: ``"binary"`` or ``"semantic"``; None reads ``dataset_meta["task"]``.
        num_classes: classes incl. background for semantic tasks; None reads ``len(dataset_meta["classes"])``.
            Binary tasks always use 2 (background, foreground).
        ignore_index: GT value excluded from every count.
        beta2: beta^2 of F (0.3).
        num_thresholds: thresholds of the binary F (AVSBench: 255).
        f_max_per: ``"dataset"`` (default): the binary F curve is averaged over all frames of the split before the max
            over thresholds, independent of batching. ``"batch"``: AVSBench's convention, max per group of
            ``batch_size_for_compat`` consecutive frames then mean over groups (J likewise mean of group means).
        batch_size_for_compat: frames per group for ``f_max_per="batch"`` (AVSBench S4 / MS3 test: 5, one video).
        binary_score: ``"logits"`` or ``"probabilities"``: what ``seg_logits`` holds (see module docstring); default:
            what ``AVSSegmentor`` stores.
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``.
    """

    default_prefix: Optional[str] = None

    def __init__(
        self,
        mode: str = "avsbench",
        report: Sequence[str] = ("avsbench", "dataset"),
        task: Optional[str] = None,
        num_classes: Optional[int] = None,
        ignore_index: int = 255,
        beta2: float = AVSBENCH_BETA2,
        num_thresholds: int = AVSBENCH_NUM_THRESHOLDS,
        f_max_per: str = "dataset",
        batch_size_for_compat: Optional[int] = None,
        binary_score: str = BINARY_SEG_LOGITS,
        collect_device: str = "cpu",
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if mode not in _MODES:
            raise ValueError(f"AVSMetric: mode must be one of {_MODES}, got {mode!r}")
        report = tuple(report)
        bad = [r for r in report if r not in _MODES]
        if bad:
            raise ValueError(f"AVSMetric: report entries must be in {_MODES}, got {bad}")
        if task is not None and task not in _TASKS:
            raise ValueError(f"AVSMetric: task must be one of {_TASKS} or None, got {task!r}")
        if f_max_per not in ("dataset", "batch"):
            raise ValueError(f"AVSMetric: f_max_per must be 'dataset' or 'batch', got {f_max_per!r}")
        if f_max_per == "batch":
            if not isinstance(batch_size_for_compat, int) or batch_size_for_compat < 1:
                raise ValueError(
                    "AVSMetric: f_max_per='batch' needs an explicit batch_size_for_compat >= 1 (AVSBench S4/MS3: 5), "
                    f"got {batch_size_for_compat!r}"
                )
        elif batch_size_for_compat is not None:
            raise ValueError("AVSMetric: batch_size_for_compat is only used with f_max_per='batch'")
        if binary_score not in ("logits", "probabilities"):
            raise ValueError(f"AVSMetric: binary_score must be 'logits' or 'probabilities', got {binary_score!r}")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"AVSMetric: num_classes must be >= 2 (background included), got {num_classes}")
        self.mode = mode
        self.report = tuple(dict.fromkeys((mode,) + report))
        self.task = task
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.beta2 = float(beta2)
        self.num_thresholds = int(num_thresholds)
        self.f_max_per = f_max_per
        self.batch_size_for_compat = batch_size_for_compat
        self.binary_score = binary_score
        self._thresholds = avsbench_thresholds(self.num_thresholds)

    # ------------------------------------------------------------------ configuration from dataset_meta
    def _resolved_task(self) -> str:
        task = self.task
        if task is None:
            meta = self.dataset_meta or {}
            task = meta.get("task")
            if task is None:
                raise ValueError(
                    "AVSMetric: task is unknown: pass task='binary'|'semantic' "
                    "or use a dataset whose metainfo has 'task'"
                )
        if task not in _TASKS:
            raise ValueError(f"AVSMetric: dataset_meta['task'] must be one of {_TASKS}, got {task!r}")
        return task

    def _resolved_num_classes(self, task: str) -> int:
        if task == "binary":
            return 2
        if self.num_classes is not None:
            return self.num_classes
        classes = (self.dataset_meta or {}).get("classes")
        if not classes:
            raise ValueError("AVSMetric: num_classes is unknown: pass num_classes or a dataset with metainfo 'classes'")
        return len(classes)

    def _class_names(self, num_classes: int) -> List[str]:
        classes = (self.dataset_meta or {}).get("classes")
        if classes and len(classes) == num_classes:
            return [str(c) for c in classes]
        return ["background", "foreground"] if num_classes == 2 else [str(i) for i in range(num_classes)]

    # ------------------------------------------------------------------ mmengine API
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Reduce each frame to its small statistics and append one dict per frame to ``self.results``."""
        task = self._resolved_task()
        num_classes = self._resolved_num_classes(task)
        need_pr = task == "binary" and "avsbench" in self.report
        for sample in data_samples:
            where = str(_field(sample, "img_path") or "<data sample without img_path>")
            has_label = _field(sample, "has_label")
            gt_field = _field(sample, "gt_sem_seg")
            if has_label is None:
                if gt_field is None:
                    raise ValueError(f"AVSMetric: {where} has neither has_label nor gt_sem_seg")
                has_label = True
            if not bool(has_label):
                self.results.append({"labelled": False})
                continue
            if gt_field is None:
                raise ValueError(f"AVSMetric: {where} has has_label=True but no gt_sem_seg")
            pred_field = _field(sample, "pred_sem_seg")
            if pred_field is None:
                raise ValueError(f"AVSMetric: {where} has no pred_sem_seg (run the model in predict mode)")
            gt = _label_map(gt_field, "gt_sem_seg", where)
            pred = _label_map(pred_field, "pred_sem_seg", where).to(gt.device)
            if pred.dtype.is_floating_point:
                if bool((pred != pred.round()).any()):
                    raise ValueError(f"AVSMetric: pred_sem_seg of {where} holds non-integer values")
                pred = pred.long()
            try:
                areas = class_areas(pred, gt, num_classes, self.ignore_index)
            except ValueError as exc:
                raise ValueError(f"AVSMetric: {where}: {exc}") from exc
            record: Dict[str, Any] = {"labelled": True, "areas": areas.cpu().numpy()}
            if need_pr:
                logits_field = _field(sample, "seg_logits")
                if logits_field is None:
                    raise ValueError(
                        f"AVSMetric: {where} has no seg_logits, needed by the binary F of mode 'avsbench' "
                        "(or set report=('dataset',) and mode='dataset')"
                    )
                try:
                    prob = foreground_probability(_pixel_tensor(logits_field).to(gt.device), self.binary_score)
                except ValueError as exc:
                    raise ValueError(f"AVSMetric: {where}: {exc}") from exc
                if prob.shape != gt.shape:
                    raise ValueError(
                        f"AVSMetric: seg_logits of {where} has spatial shape {tuple(prob.shape)} "
                        f"but gt_sem_seg has {tuple(gt.shape)}"
                    )
                valid = gt != self.ignore_index
                counts = pr_curve_counts(prob, gt == 1, valid, self._thresholds)
                record["pr_counts"] = counts.cpu().numpy()
            self.results.append(record)

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Reduce the collected per-frame records (in dataset order) to the metric dict (percentages)."""
        logger = MMLogger.get_current_instance()
        task = self._resolved_task()
        num_classes = self._resolved_num_classes(task)
        labelled = [r for r in results if r["labelled"]]
        out: Dict[str, Any] = {
            "num_frames": len(labelled),
            "num_frames_unlabelled_skipped": len(results) - len(labelled),
        }
        if not labelled:
            raise ValueError(
                f"AVSMetric: none of the {len(results)} evaluated frames has a label (has_label=False for all)"
            )
        areas = torch.from_numpy(np.stack([r["areas"] for r in labelled]))
        if areas.shape[2] != num_classes:
            raise ValueError(f"AVSMetric: collected areas have {areas.shape[2]} classes, expected {num_classes}")
        main: Dict[str, float] = {}
        if "avsbench" in self.report:
            if task == "binary":
                missing = sum("pr_counts" not in r for r in labelled)
                if missing:
                    raise ValueError(f"AVSMetric: {missing} labelled frames lack PR counts for the binary F")
                pr = torch.from_numpy(np.stack([r["pr_counts"] for r in labelled]))
                group = self.batch_size_for_compat if self.f_max_per == "batch" else None
                s = avsbench_binary_scores(areas, pr, self._thresholds, self.beta2, group)
                j, f = 100.0 * s["J"], 100.0 * s["F"]
                out.update(
                    {
                        "avsbench/J": j,
                        "avsbench/F": f,
                        "avsbench/J&F": (j + f) / 2,
                        "avsbench/F_threshold": s["F_threshold"] if s["F_threshold"] is not None else -1.0,
                        "avsbench/num_empty_gt_frames": s["num_empty_gt_frames"],
                    }
                )
                if group is not None:
                    out["avsbench/num_compat_batches"] = s["num_groups"]
            else:
                if self.f_max_per == "batch":
                    raise ValueError(
                        "AVSMetric: f_max_per='batch' applies to the binary F only; AVSBench's semantic metric sums "
                        "over the whole split and has no batch dependence"
                    )
                s = avsbench_semantic_scores(areas, self.beta2)
                j, f = 100.0 * s["mIoU"], 100.0 * s["mF"]
                out.update(
                    {
                        "avsbench/mIoU": j,
                        "avsbench/mF": f,
                        "avsbench/J&F": (j + f) / 2,
                        "avsbench/mIoU_no_bg": 100.0 * s["mIoU_no_bg"],
                        "avsbench/mF_no_bg": 100.0 * s["mF_no_bg"],
                        "avsbench/mIoU_seen": 100.0 * s["mIoU_seen"],
                        "avsbench/mF_seen": 100.0 * s["mF_seen"],
                        "avsbench/num_classes_seen": s["num_classes_seen"],
                    }
                )
                self._log_per_class("avsbench", s["IoU_per_class"], s["F_per_class"], num_classes, logger)
            if self.mode == "avsbench":
                main = {"mJ": j, "mF": f}
        if "dataset" in self.report:
            d = dataset_level_scores(areas.sum(0), self.beta2)
            j, f = 100.0 * d["mIoU"], 100.0 * d["mF"]
            out.update(
                {
                    "dataset/mIoU": j,
                    "dataset/mF": f,
                    "dataset/mF1": 100.0 * d["mF1"],
                    "dataset/J&F": (j + f) / 2,
                    "dataset/mIoU_no_bg": 100.0 * d["mIoU_no_bg"],
                    "dataset/mF_no_bg": 100.0 * d["mF_no_bg"],
                    "dataset/mF1_no_bg": 100.0 * d["mF1_no_bg"],
                    "dataset/num_valid_classes": d["num_valid_classes"],
                }
            )
            if task == "semantic":
                self._log_per_class("dataset", d["IoU_per_class"], d["F_per_class"], num_classes, logger)
            if self.mode == "dataset":
                main = {"mJ": j, "mF": f}
        out["mJ"], out["mF"] = main["mJ"], main["mF"]
        out["J&F"] = (main["mJ"] + main["mF"]) / 2
        if out["num_frames_unlabelled_skipped"]:
            print_log(
                f"AVSMetric: skipped {out['num_frames_unlabelled_skipped']} unlabelled frames "
                f"(has_label=False) out of {len(results)}",
                logger=logger,
            )
        return out

    def _log_per_class(self, name: str, iou: torch.Tensor, f: torch.Tensor, num_classes: int, logger: Any) -> None:
        names = self._class_names(num_classes)
        rows = [f"{n:>24s} {100 * float(i):7.2f} {100 * float(v):7.2f}" for n, i, v in zip(names, iou, f)]
        header = f"AVSMetric per-class ({name}):\n{'class':>24s} {'IoU':>7s} {'F':>7s}\n"
        print_log(header + "\n".join(rows), logger=logger)
