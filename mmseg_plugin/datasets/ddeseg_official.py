"""The official DDESeg code's per-frame re-layout of AVSS (field notes §1.10).

No paper equation. Layout under ``data_root``::

    metadata_w_silent.csv      one row per frame, header row; uid (column 1) = <clip uid>_<frame index>,
                               split in column 4, subset (v1s | v1m | v2) in column 5 (0-based positions)
    label2idx.json             as AVSS (1-based values; index = value - 1)
    <subset>/<clip>/frames/<i>.jpg
    <subset>/<clip>/labels_semantic/<i>.png     index PNGs (the official loader reads them with .convert('L'))
    <subset>/<clip>/audios/<i>.wav              one 1-s file per frame (whole file = the window [0, 1) s)

Every listed row is one labelled item (the official loader reads a mask for every row). Column positions are
arguments because the official code changed them once (commit 25246b3: 5/6 -> 4/5).
"""

from __future__ import annotations

import os
from typing import List

from mmseg.registry import DATASETS

from .avss import AVSS_SUBSETS, AVSSemanticDataset
from .layout_checks import LayoutError, read_csv_rows

__all__ = ["DDESegOfficialAVSSDataset"]


@DATASETS.register_module()
class DDESegOfficialAVSSDataset(AVSSemanticDataset):
    """AVSS in the DDESeg per-frame re-layout (metadata_w_silent.csv, ``audios/<i>.wav``).

    Args:
        data_root: root holding metadata_w_silent.csv, label2idx.json and v1s/ v1m/ v2/.
        split: "train" | "val" | "test".
        subsets: any of ("v1s", "v1m", "v2") or "all".
        uid_column / split_column / subset_column: 0-based CSV column positions (defaults 1 / 4 / 5).
        **kwargs: see :class:`AVSBaseDataset`.
    """

    DATASET_NAME = "DDESegOfficialAVSSDataset"

    def __init__(
        self,
        data_root: str,
        split: str = "train",
        subsets="all",
        ann_file: str = "metadata_w_silent.csv",
        uid_column: int = 1,
        split_column: int = 4,
        subset_column: int = 5,
        **kwargs,
    ) -> None:
        self.columns = dict(uid=int(uid_column), split=int(split_column), subset=int(subset_column))
        kwargs.pop("label_source", None)
        super().__init__(
            data_root=data_root, split=split, subsets=subsets, label_source="semantic", ann_file=ann_file, **kwargs
        )

    def _default_metainfo(self, data_root: str) -> dict:
        meta = super()._default_metainfo(data_root)
        meta["audio_sample_rate"] = None  # per-frame files; their native rate is read from each file
        return meta

    def _load_items(self) -> List[dict]:
        _, rows = read_csv_rows(self.ann_file, (), self.DATASET_NAME)
        c = self.columns
        items = []
        for r in rows:
            try:
                uid, split, subset = r[f"#{c['uid']}"], r[f"#{c['split']}"], r[f"#{c['subset']}"]
            except KeyError:
                raise LayoutError(
                    f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']} has fewer columns than {c}"
                ) from None
            if split not in ("train", "val", "test") or subset not in AVSS_SUBSETS:
                raise LayoutError(
                    f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: split {split!r} / subset {subset!r} "
                    f"not valid at columns {c['split']}/{c['subset']} (check split_column/subset_column)"
                )
            if split != self.split or subset not in self.subsets:
                continue
            clip, sep, idx = uid.rpartition("_")
            if not sep or not idx.isdigit():
                raise LayoutError(
                    f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: uid {uid!r} is not <clip>_<frameIdx>"
                )
            i = int(idx)
            base = os.path.join(self.data_root, subset, clip)
            items.append(
                self._frame_item(
                    img_path=f"{base}/frames/{i}.jpg",
                    seg_map_path=f"{base}/labels_semantic/{i}.png",
                    audio_path=f"{base}/audios/{i}.wav",
                    audio_start=0.0,
                    audio_end=1.0,
                    label_format="index",
                    clip_id=clip,
                    frame_index=i,
                    has_label=True,
                    subset=subset,
                )
            )
        return items
