"""AVSBench-object S4 (single source) and MS3 (multi sources), official layouts (field notes §2). Binary task.

No paper equation. S4 under ``data_root`` (= ``avsbench_data/Single-source``)::

    s4_meta_data.csv                                            columns name, category, split (header row)
    s4_data/visual_frames/<split>/<category>/<name>/<name>_<k>.png     k = 1..5
    s4_data/gt_masks/<split>/<category>/<name>/<name>_<k>.png          train: k = 1 only; val/test: 1..5
    s4_data/audio_wav/<split>/<category>/<name>.wav                    16 kHz
    s4_data/audio_log_mel/<split>/<category>/<name>.pkl                [5, 1, 96, 64] VGGish log-mel examples

MS3 under ``data_root`` (= ``avsbench_data/Multi-sources``)::

    ms3_meta_data.csv                                           column 0 = video name, plus a split column
    ms3_data/visual_frames/<name>/<name>.mp4_<k>.png            no split folder; k = 1..5
    ms3_data/gt_masks/<split>/<name>/<name>_<k>.png             mode 'P', 5 masks in every split
    ms3_data/audio_wav/<split>/<name>.wav
    ms3_data/audio_log_mel/<split>/<name>.pkl

Frame k (1-based on disk) is ``frame_index = k - 1`` and gets the audio window [k - 1, k) s. With
``audio_source="log_mel_pkl"`` the item's ``audio_path`` is the .pkl cache and ``audio_format="log_mel_pkl"``;
``LoadAudioWindow`` then returns row ``frame_index`` of the cached tensor ([1, 96, 64]) instead of a waveform.
Masks are binary (label_format "binary": non-zero -> 1).
"""

from __future__ import annotations

from typing import List

from mmseg.registry import DATASETS

from .base import AVSBaseDataset
from .layout_checks import LayoutError, read_csv_rows

__all__ = ["AVSObjectS4Dataset", "AVSObjectMS3Dataset", "AUDIO_SOURCES"]

AUDIO_SOURCES = ("wav", "log_mel_pkl")
_BINARY_META = dict(classes=("background", "sounding"), palette=[[0, 0, 0], [255, 255, 255]])


class _AVSObjectBase(AVSBaseDataset):
    METAINFO = dict(task="binary")
    NUM_FRAMES = 5

    def __init__(self, data_root: str, split: str = "train", audio_source: str = "wav", **kwargs) -> None:
        if audio_source not in AUDIO_SOURCES:
            raise ValueError(f"{self.DATASET_NAME}: audio_source must be one of {AUDIO_SOURCES}, got {audio_source!r}")
        self.audio_source = audio_source
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _default_metainfo(self, data_root: str) -> dict:
        return dict(_BINARY_META, audio_sample_rate=16000)

    def _check_split(self, row: dict) -> str:
        split = row["split"]
        if split not in ("train", "val", "test"):
            raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {row['#line']}: bad split {split!r}")
        return split

    def _audio(self, top: str, *parts: str) -> tuple:
        """``(<top>/<audio folder>/<parts...>.<ext>, audio_format)`` for the configured audio source."""
        folder, ext = ("audio_wav", ".wav") if self.audio_source == "wav" else ("audio_log_mel", ".pkl")
        return self._path(top, folder, *parts[:-1], parts[-1] + ext), self.audio_source


@DATASETS.register_module()
class AVSObjectS4Dataset(_AVSObjectBase):
    """AVSBench-object S4: one item per frame; train clips have only frame 1 labelled.

    Args:
        data_root: the Single-source root (holding s4_meta_data.csv and s4_data/).
        split: "train" | "val" | "test".
        audio_source: "wav" (audio_wav/, waveform windows) or "log_mel_pkl" (audio_log_mel/ caches).
        **kwargs: see :class:`AVSBaseDataset`.
    """

    DATASET_NAME = "AVSObjectS4Dataset"

    def __init__(self, data_root: str, split: str = "train", ann_file: str = "s4_meta_data.csv", **kwargs) -> None:
        super().__init__(data_root=data_root, split=split, ann_file=ann_file, **kwargs)

    def _load_items(self) -> List[dict]:
        _, rows = read_csv_rows(self.ann_file, ("name", "category", "split"), self.DATASET_NAME)
        items = []
        for r in rows:
            if self._check_split(r) != self.split:
                continue
            name, cat, split = r["name"], r["category"], r["split"]
            audio_path, audio_format = self._audio("s4_data", split, cat, name)
            for k in range(1, self.NUM_FRAMES + 1):
                items.append(
                    self._frame_item(
                        img_path=self._path("s4_data", "visual_frames", split, cat, name, f"{name}_{k}.png"),
                        seg_map_path=self._path("s4_data", "gt_masks", split, cat, name, f"{name}_{k}.png"),
                        audio_path=audio_path,
                        audio_start=float(k - 1),
                        audio_end=float(k),
                        label_format="binary",
                        clip_id=name,
                        frame_index=k - 1,
                        has_label=not (split == "train" and k > 1),
                        audio_format=audio_format,
                        category=cat,
                    )
                )
        return items


@DATASETS.register_module()
class AVSObjectMS3Dataset(_AVSObjectBase):
    """AVSBench-object MS3: one item per frame, 5 labelled frames per clip in every split.

    Args:
        data_root: the Multi-sources root (holding ms3_meta_data.csv and ms3_data/).
        split: "train" | "val" | "test".
        audio_source: "wav" or "log_mel_pkl".
        **kwargs: see :class:`AVSBaseDataset`.
    """

    DATASET_NAME = "AVSObjectMS3Dataset"

    def __init__(self, data_root: str, split: str = "train", ann_file: str = "ms3_meta_data.csv", **kwargs) -> None:
        super().__init__(data_root=data_root, split=split, ann_file=ann_file, **kwargs)

    def _load_items(self) -> List[dict]:
        _, rows = read_csv_rows(self.ann_file, ("split",), self.DATASET_NAME)
        items = []
        for r in rows:
            if self._check_split(r) != self.split:
                continue
            name, split = r["#0"], r["split"]
            if not name:
                raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: empty video name")
            audio_path, audio_format = self._audio("ms3_data", split, name)
            for k in range(1, self.NUM_FRAMES + 1):
                items.append(
                    self._frame_item(
                        img_path=self._path("ms3_data", "visual_frames", name, f"{name}.mp4_{k}.png"),
                        seg_map_path=self._path("ms3_data", "gt_masks", split, name, f"{name}_{k}.png"),
                        audio_path=audio_path,
                        audio_start=float(k - 1),
                        audio_end=float(k),
                        label_format="binary",
                        clip_id=name,
                        frame_index=k - 1,
                        has_label=True,
                        audio_format=audio_format,
                    )
                )
        return items
