"""``AVSSyntheticDataset``: a built-in synthetic set, generated on first use, read through the AVSS loader.

No paper equation. ``preset="basic"`` (default; mmseg_plugin.synthetic.generator, the README's main job) or
``preset="hard"`` (mmseg_plugin.synthetic.hard: 128 px, 12 classes, small objects, voices and instances disjoint
between splits). Generation is deterministic from ``seed`` (mmseg_plugin.synthetic.generate_synthetic_set) and atomic
(temporary folder + rename), so several ranks may start it at once. An existing folder is reused only if its
manifest records the same preset, generator version and parameters; otherwise construction fails naming the
difference.
"""

from __future__ import annotations

from typing import Optional

from mmseg.registry import DATASETS

from ..synthetic import generate_synthetic_set
from .avss import AVSSemanticDataset

__all__ = ["AVSSyntheticDataset"]


@DATASETS.register_module()
class AVSSyntheticDataset(AVSSemanticDataset):
    """Synthetic AVS set in the AVSS layout (subsets v1s and v1m, 5 frames per clip).

    Args:
        data_root: cache folder of the generated set (default ``data/synthetic``).
        seed: generator seed.
        generator: extra generator parameters of the preset (num_classes, image_size, num_train, num_val, num_test,
            object_scale for "hard", ...).
        preset: "basic" or "hard" (mmseg_plugin.synthetic.PRESETS).
        **kwargs: see :class:`AVSSemanticDataset` (split, subsets, label_source, check_files, pipeline, ...).
    """

    DATASET_NAME = "AVSSyntheticDataset"

    def __init__(
        self,
        data_root: str = "data/synthetic",
        seed: int = 0,
        generator: Optional[dict] = None,
        preset: str = "basic",
        **kwargs,
    ) -> None:
        self.preset = preset
        self.manifest = generate_synthetic_set(data_root, preset=preset, seed=seed, **dict(generator or {}))
        kwargs.setdefault("subsets", ("v1s", "v1m"))
        super().__init__(data_root=data_root, **kwargs)

    def _default_metainfo(self, data_root: str) -> dict:
        meta = super()._default_metainfo(data_root)
        meta["audio_sample_rate"] = int(self.manifest["sample_rate"])
        return meta
