"""AVS evaluation: the registered ``AVSMetric`` (mmseg METRICS) and its pure-PyTorch formulas."""

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

__all__ = [
    "AVSMetric",
    "avsbench_binary_scores",
    "avsbench_semantic_scores",
    "avsbench_thresholds",
    "class_areas",
    "dataset_level_scores",
    "foreground_probability",
    "pr_curve_counts",
]
