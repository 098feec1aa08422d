"""``AVSSyntheticDataset``: a built-in synthetic set, generated on first use, read through the AVSS loader.

No paper equation. ``preset="basic"`` (default; mmseg_plugin.synthetic.generator, the README's main job) or
``preset="hard"`` (mmseg_plugin.synthetic.hard: 128 px, 12 classes, small objects, voices and instances disjoint
between splits). Generation is deterministic from ``seed`` (mmseg_plugin.synthetic.generate_synthetic_set) and atomic
(temporary folder + rename), so several ranks may start it at once. An existing folder is reused only if its
manifest records the same preset, generator version and parameters; otherwise construction fails naming the
difference.

``label_source="visible"`` (synthetic sets only) reads ``labels_visible/<i>.png`` (index PNGs of *every* on-screen
object, sounding or silent, written by both generators) instead of the AVSS masks of the sounding objects, for the
same frames. A model trained and scored on them measures what the visual half of a recipe learns in its budget,
with the audio question removed (the "visual ceiling" diagnostic, docs/training.md).
"""

from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmseg.registry import DATASETS

from ..synthetic import generate_synthetic_set
from .avss import AVSSemanticDataset

__all__ = ["AVSSyntheticDataset", "LABEL_SOURCES", "VISIBLE_FOLDER"]

LABEL_SOURCES = ("rgb", "semantic", "visible")
VISIBLE_FOLDER = "labels_visible"  # written by both synthetic generators: every on-screen object, index PNGs


@DATASETS.register_module()
class AVSSyntheticDataset(AVSSemanticDataset):
    """Synthetic AVS set in the AVSS layout (subsets v1s and v1m, 5 frames per clip).

    Args:
        data_root: cache folder of the generated set (default ``data/synthetic``).
        seed: generator seed.
        generator: extra generator parameters of the preset (num_classes, image_size, num_train, num_val, num_test,
            object_scale for "hard", ...).
        preset: "basic" or "hard" (mmseg_plugin.synthetic.PRESETS).
        label_source: "rgb" / "semantic" (the AVSS masks of the sounding objects) or "visible" (every on-screen
            object; see the module docstring).
        **kwargs: see :class:`AVSSemanticDataset` (split, subsets, check_files, pipeline, ...).
    """

    DATASET_NAME = "AVSSyntheticDataset"

    def __init__(
        self,
        data_root: str = "data/synthetic",
        seed: int = 0,
        generator: Optional[dict] = None,
        preset: str = "basic",
        label_source: str = "rgb",
        **kwargs,
    ) -> None:
        if label_source not in LABEL_SOURCES:
            raise ValueError(
                f"{self.DATASET_NAME}: label_source must be one of {LABEL_SOURCES}, got {label_source!r} ({data_root})"
            )
        self.visible_labels = label_source == "visible"
        kwargs["label_source"] = "semantic" if self.visible_labels else label_source
        self.preset = preset
        self.manifest = generate_synthetic_set(data_root, preset=preset, seed=seed, **dict(generator or {}))
        kwargs.setdefault("subsets", ("v1s", "v1m"))
        super().__init__(data_root=data_root, **kwargs)

    def _load_items(self) -> List[dict]:
        items = super()._load_items()
        if self.visible_labels:
            for it in items:
                clip = osp.dirname(osp.dirname(it["img_path"]))
                it["seg_map_path"] = osp.join(clip, VISIBLE_FOLDER, f"{it['frame_index']}.png")
                it["label_format"] = "index"
        return items

    def _default_metainfo(self, data_root: str) -> dict:
        meta = super()._default_metainfo(data_root)
        meta["audio_sample_rate"] = int(self.manifest["sample_rate"])
        return meta
