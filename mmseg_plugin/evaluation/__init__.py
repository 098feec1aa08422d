"""AVS evaluation: the registered ``AVSMetric`` and ``AVSMaskWriter`` (mmseg METRICS) and the metric formulas."""

from .avs_metric import AVSMetric
from .avs_metric_functions import (
    avsbench_binary_scores,
    avsbench_semantic_scores,
    avsbench_thresholds,
    class_areas,
    dataset_level_scores,
    foreground_probability,
    pr_curve_counts,
)
from .mask_writer import AVSMaskWriter

__all__ = [
    "AVSMaskWriter",
    "AVSMetric",
    "avsbench_binary_scores",
    "avsbench_semantic_scores",
    "avsbench_thresholds",
    "class_areas",
    "dataset_level_scores",
    "foreground_probability",
    "pr_curve_counts",
]
