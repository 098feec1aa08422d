"""AVSBench-semantic (AVSS) in its official layout (field notes §2).

No paper equation. Layout under ``data_root``::

    metadata.csv            vid,uid,s_min,s_sec,a_obj,split,label   (label = subset v1s | v1m | v2)
    label2idx.json          {name: 1-based value}; class index = value - 1, background = 0
    <label>/<uid>/frames/<i>.jpg            i = 0..4 (v1s, v1m) or 0..9 (v2)
    <label>/<uid>/labels_rgb/<i>.png        VOC-palette colour masks   (label_source="rgb")
    <label>/<uid>/labels_semantic/<i>.png   index PNGs, mode 'P' or 'L' (label_source="semantic")
    <label>/<uid>/audio.wav                 whole clip; frame i gets the window [i, i + 1) s

v1s train clips have only frame 0 labelled; their frames 1..4 are ``has_label=False`` (dropped unless
``keep_unlabelled=True``). One item per frame; images keep their original resolution (the pipeline resizes).
"""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple, Union

from mmseg.registry import DATASETS

from .base import AVSBaseDataset
from .layout_checks import LayoutError, read_csv_rows, read_label2idx
from .palette import voc_palette

__all__ = ["AVSSemanticDataset", "AVSS_SUBSETS", "AVSS_FRAMES"]

AVSS_SUBSETS = ("v1s", "v1m", "v2")
AVSS_FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}
AVSS_COLUMNS = ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label")


@DATASETS.register_module()
class AVSSemanticDataset(AVSBaseDataset):
    """AVSBench-semantic, official layout: one item per frame with its 1-s audio window.

    Args:
        data_root: the AVSS root (holding metadata.csv, label2idx.json, v1s/, v1m/, v2/).
        split: "train" | "val" | "test".
        subsets: any of ("v1s", "v1m", "v2") or "all".
        label_source: "rgb" (labels_rgb/, VOC palette, label_format "rgb_voc") or "semantic" (labels_semantic/,
            index PNGs, label_format "index").
        ann_file: metadata CSV name under data_root.
        label2idx: class file name under data_root.
        **kwargs: see :class:`AVSBaseDataset` (check_files, keep_unlabelled, pipeline, test_mode, ...).
    """

    DATASET_NAME = "AVSSemanticDataset"
    METAINFO = dict(task="semantic")

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        subsets: Union[str, Sequence[str]] = "all",
        label_source: str = "rgb",
        ann_file: str = "metadata.csv",
        label2idx: str = "label2idx.json",
        **kwargs,
    ) -> None:
        self.subsets = self._parse_subsets(subsets)
        if label_source not in ("rgb", "semantic"):
            raise ValueError(f"{self.DATASET_NAME}: label_source must be 'rgb' or 'semantic', got {label_source!r}")
        self.label_source = label_source
        self.label2idx_file = label2idx
        super().__init__(data_root=data_root, split=split, ann_file=ann_file, **kwargs)

    @classmethod
    def _parse_subsets(cls, subsets) -> Tuple[str, ...]:
        if subsets == "all":
            return AVSS_SUBSETS
        if isinstance(subsets, str):
            subsets = (subsets,)
        subsets = tuple(subsets)
        bad = [s for s in subsets if s not in AVSS_SUBSETS]
        if bad or not subsets:
            raise ValueError(f"{cls.DATASET_NAME}: subsets must be 'all' or a non-empty subset of {AVSS_SUBSETS}")
        return subsets

    def _default_metainfo(self, data_root: str) -> dict:
        classes = read_label2idx(os.path.join(data_root, self.label2idx_file), self.DATASET_NAME)
        if len(classes) > 255:
            raise LayoutError(f"{self.DATASET_NAME}: {len(classes)} classes do not fit uint8 label maps (max 255)")
        return dict(
            classes=tuple(classes),
            palette=voc_palette(len(classes)).tolist(),
            audio_sample_rate=16000,
        )

    def _selection_repr(self) -> str:
        return f"split={self.split}, subsets={self.subsets}"

    def read_metadata(self) -> List[dict]:
        """Rows of metadata.csv (all splits and subsets), validated: split and label values, unique uids."""
        _, rows = read_csv_rows(self.ann_file, AVSS_COLUMNS, self.DATASET_NAME)
        seen = set()
        for r in rows:
            if r["split"] not in ("train", "val", "test"):
                raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: bad split {r['split']!r}")
            if r["label"] not in AVSS_SUBSETS:
                raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: bad label {r['label']!r}")
            if r["uid"] in seen:
                raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: duplicate uid {r['uid']}")
            seen.add(r["uid"])
        return rows

    def _load_items(self) -> List[dict]:
        rows = [r for r in self.read_metadata() if r["split"] == self.split and r["label"] in self.subsets]
        folder, fmt = ("labels_rgb", "rgb_voc") if self.label_source == "rgb" else ("labels_semantic", "index")
        items = []
        for r in rows:
            subset, uid = r["label"], r["uid"]
            clip = self._path(subset, uid)
            for i in range(AVSS_FRAMES[subset]):
                has_label = not (subset == "v1s" and self.split == "train" and i > 0)
                items.append(
                    self._frame_item(
                        img_path=f"{clip}/frames/{i}.jpg",
                        seg_map_path=f"{clip}/{folder}/{i}.png",
                        audio_path=f"{clip}/audio.wav",
                        audio_start=float(i),
                        audio_end=float(i + 1),
                        label_format=fmt,
                        clip_id=uid,
                        frame_index=i,
                        has_label=has_label,
                        subset=subset,
                        a_obj=r["a_obj"],
                    )
                )
        return items
