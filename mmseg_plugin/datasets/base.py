"""Common base of the AVS datasets: split/subset selection, unlabelled-frame policy, up-front layout checks.

No paper equation. Every dataset yields one item per video frame (data_info keys in the contract: img_path,
seg_map_path (None when unlabelled), audio_path, audio_start, audio_end, label_format, clip_id, frame_index,
has_label, seg_fields=[], reduce_zero_label=False), plus num_classes and dataset-specific extras.
"""

from __future__ import annotations

import abc
import os
from typing import List, Optional, Sequence

from mmseg.datasets import BaseSegDataset

from .layout_checks import CHECK_MODES, check_item_files

__all__ = ["AVSBaseDataset"]


class AVSBaseDataset(BaseSegDataset, metaclass=abc.ABCMeta):
    """Base class: subclasses implement :meth:`_load_items` (all frames of the selected split) and metainfo.

    Args:
        data_root: dataset root folder (required; every path is resolved under it).
        split: which split to load ("train" | "val" | "test"; VPO accepts "train" | "test").
        check_files: "first" (default: the files of the first ``check_first_n`` items must exist), "all" or "none".
        check_first_n: how many items "first" checks.
        keep_unlabelled: keep frames without a mask (e.g. AVSS v1s train frames 1..4, S4 train frames 2..5) as items
            with ``has_label=False`` and ``seg_map_path=None``; by default they are dropped.
        **kwargs: passed to ``BaseSegDataset`` (pipeline, test_mode, indices, serialize_data, lazy_init, metainfo).
    """

    DATASET_NAME = "AVSBaseDataset"
    SPLITS: Sequence[str] = ("train", "val", "test")
    FILE_KEYS: Sequence[str] = ("img_path", "seg_map_path", "audio_path")

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        check_files: str = "first",
        check_first_n: int = 4,
        keep_unlabelled: bool = False,
        **kwargs,
    ) -> None:
        if data_root is None or not str(data_root):
            raise ValueError(f"{self.DATASET_NAME}: data_root is required")
        if split not in self.SPLITS:
            raise ValueError(f"{self.DATASET_NAME}: split must be one of {tuple(self.SPLITS)}, got {split!r}")
        if check_files not in CHECK_MODES:
            raise ValueError(f"{self.DATASET_NAME}: check_files must be one of {CHECK_MODES}, got {check_files!r}")
        data_root = os.fspath(data_root)
        if not os.path.isdir(data_root):
            raise FileNotFoundError(f"{self.DATASET_NAME}: data_root {data_root} is not a directory")
        self.split = split
        self.check_files = check_files
        self.check_first_n = int(check_first_n)
        self.keep_unlabelled = bool(keep_unlabelled)
        self.num_unlabelled_dropped = 0
        user_meta = dict(kwargs.pop("metainfo", None) or {})
        meta = self._default_metainfo(data_root)
        meta.update(user_meta)
        kwargs.setdefault("reduce_zero_label", False)
        super().__init__(data_root=data_root, metainfo=meta, **kwargs)

    # -- to implement -------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _default_metainfo(self, data_root: str) -> dict:
        """classes, palette, audio_sample_rate for this dataset (may read files under data_root).

        String-valued entries (``task``) live in the class ``METAINFO``: mmengine treats string values passed as
        ``metainfo`` as candidate file names.
        """

    @abc.abstractmethod
    def _load_items(self) -> List[dict]:
        """All frames of ``self.split`` (labelled or not) as data_info dicts without the common keys."""

    # -- shared -------------------------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        items = self._load_items()
        num_classes = len(self._metainfo["classes"])
        out = []
        for item in items:
            if not item["has_label"] and not self.keep_unlabelled:
                self.num_unlabelled_dropped += 1
                continue
            if not item["has_label"]:
                item["seg_map_path"] = None
            item.setdefault("seg_fields", [])
            item.setdefault("reduce_zero_label", False)
            item.setdefault("label_map", self.label_map)
            item.setdefault("num_classes", num_classes)
            out.append(item)
        if not out:
            raise ValueError(
                f"{self.DATASET_NAME}: no items for split={self.split!r} under {self.data_root} "
                f"(selection: {self._selection_repr()})"
            )
        check_item_files(out, self.FILE_KEYS, self.check_files, self.DATASET_NAME, first_n=self.check_first_n)
        return out

    def _selection_repr(self) -> str:
        return f"split={self.split}"

    def _path(self, *parts: str) -> str:
        return os.path.join(self.data_root, *parts)

    def _join_prefix(self) -> None:
        # Paths are resolved by each dataset under data_root; only ann_file is joined (mmengine's rule).
        if self.ann_file and not os.path.isabs(self.ann_file):
            self.ann_file = os.path.join(self.data_root, self.ann_file)

    @staticmethod
    def _frame_item(
        *,
        img_path: str,
        seg_map_path: Optional[str],
        audio_path,
        audio_start: Optional[float],
        audio_end: Optional[float],
        label_format: str,
        clip_id: str,
        frame_index: int,
        has_label: bool,
        **extra,
    ) -> dict:
        item = dict(
            img_path=img_path,
            seg_map_path=seg_map_path,
            audio_path=audio_path,
            audio_start=audio_start,
            audio_end=audio_end,
            label_format=label_format,
            clip_id=clip_id,
            frame_index=int(frame_index),
            has_label=bool(has_label),
            seg_fields=[],
            reduce_zero_label=False,
        )
        item.update(extra)
        return item
