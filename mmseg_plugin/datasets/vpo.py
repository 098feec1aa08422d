"""VPO (CAVP's COCO + VGGSound benchmark): settings SS, MS and MSMI (field notes §5).

No paper equation. Layout under ``data_root``::

    vpo_{ss,ms,msmi}_data_stereo.csv   columns cateName, img_Id, ann_Ids, cateId, vgg_file, split (train | val),
                                       audio_pos (stereo pan in [0, 1]), multi_instance (MSMI)
    VPO-SS/data/<img_Id:012d>.jpg      VPO-SS/mask/<img_Id:012d>_<ann_Ids:012d>.png   (one item per row)
    VPO-MS/data/<img_Id:012d>.jpg      VPO-MS/mask/<img_Id:012d>.png                  (one item per image)
    VPO-MSMI/...                       as MS; rows with multi_instance == 0 use the VPO-MS files
    <audio_prefix>/<vgg_file>.wav      VGGSound audio (default audio_prefix "audios")

The CSV's "val" split is the test split (CAVP renames it); ``split="test"`` selects it. Masks hold raw COCO category
ids (person split into 92 male / 93 female / 94 baby; 255 ignore), remapped at load time to 21 classes +
background (label_format "coco_vpo"). An image of MS/MSMI has one audio per source (``audio_path`` is a list, with
``audio_pan`` the per-source pan positions); ``LoadAudioWindow`` takes the 3-s centre crop of each at 16 kHz, pans
it (stereo: L = w * (1 - pan), R = w * pan) and sums the sources (CAVP's rule). ``audio_start``/``audio_end`` are
None: VPO items are still images, the audio window is the centred crop.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List

from mmseg.registry import DATASETS

from .base import AVSBaseDataset
from .layout_checks import LayoutError, read_csv_rows
from .palette import voc_palette

__all__ = ["VPODataset", "VPO_CLASSES", "VPO_COCO_ID_TO_NAME", "vpo_id_to_index"]

VPO_CLASSES = (
    "background", "airplane", "baby", "bird", "bus", "car", "cat", "cell phone", "cow", "dog", "elephant", "female",
    "horse", "keyboard", "male", "motorcycle", "mouse", "sheep", "skateboard", "sports ball", "tennis racket", "zebra",
)  # fmt: skip
VPO_COCO_ID_TO_NAME: Dict[int, str] = {
    5: "airplane", 16: "bird", 6: "bus", 3: "car", 17: "cat", 77: "cell phone", 21: "cow", 18: "dog", 22: "elephant",
    19: "horse", 76: "keyboard", 4: "motorcycle", 74: "mouse", 20: "sheep", 41: "skateboard", 37: "sports ball",
    43: "tennis racket", 24: "zebra", 92: "male", 93: "female", 94: "baby",
}  # fmt: skip
SETTINGS = {"ss": "VPO-SS", "ms": "VPO-MS", "msmi": "VPO-MSMI"}
VPO_COLUMNS = ("cateName", "img_Id", "ann_Ids", "cateId", "vgg_file", "split")


def vpo_id_to_index(classes=VPO_CLASSES, id_to_name=None) -> Dict[int, int]:
    """COCO category id -> VPO class index (background 0)."""
    id_to_name = VPO_COCO_ID_TO_NAME if id_to_name is None else id_to_name
    return {int(k): list(classes).index(v) for k, v in id_to_name.items()}


@DATASETS.register_module()
class VPODataset(AVSBaseDataset):
    """VPO-SS / VPO-MS / VPO-MSMI, one item per image.

    Args:
        data_root: VPO root (CSVs and VPO-{SS,MS,MSMI}/ folders).
        setting: "ss" | "ms" | "msmi".
        split: "train" | "test" (CSV "val").
        audio_prefix: folder of the VGGSound wavs, relative to data_root or absolute.
        ann_file: CSV name; default ``vpo_<setting>_data_stereo.csv``.
        audio_window_seconds: length of the centred audio crop (CAVP: 3 s), stored per item.
        **kwargs: see :class:`AVSBaseDataset`.
    """

    DATASET_NAME = "VPODataset"
    METAINFO = dict(task="semantic")
    SPLITS = ("train", "test")

    def __init__(
        self,
        data_root: str,
        setting: str = "ss",
        split: str = "train",
        audio_prefix: str = "audios",
        ann_file: str = "",
        audio_window_seconds: float = 3.0,
        **kwargs,
    ) -> None:
        if setting not in SETTINGS:
            raise ValueError(f"{self.DATASET_NAME}: setting must be one of {tuple(SETTINGS)}, got {setting!r}")
        self.setting = setting
        self.audio_prefix = audio_prefix
        self.audio_window_seconds = float(audio_window_seconds)
        super().__init__(
            data_root=data_root, split=split, ann_file=ann_file or f"vpo_{setting}_data_stereo.csv", **kwargs
        )

    def _default_metainfo(self, data_root: str) -> dict:
        return dict(
            classes=VPO_CLASSES,
            palette=voc_palette(len(VPO_CLASSES)).tolist(),
            audio_sample_rate=None,
        )

    def _selection_repr(self) -> str:
        return f"setting={self.setting}, split={self.split}"

    def _img_mask(self, row: dict) -> tuple:
        try:
            img_id = int(float(row["img_Id"]))
            ann_id = int(float(row["ann_Ids"])) if self.setting == "ss" else None
        except ValueError:
            raise LayoutError(
                f"{self.DATASET_NAME}: {self.ann_file} line {row['#line']}: img_Id/ann_Ids must be integers"
            ) from None
        folder = SETTINGS[self.setting]
        if self.setting == "msmi" and int(float(row.get("multi_instance", "1") or 1)) == 0:
            folder = SETTINGS["ms"]
        img = self._path(folder, "data", f"{img_id:012d}.jpg")
        mask_name = f"{img_id:012d}_{ann_id:012d}.png" if ann_id is not None else f"{img_id:012d}.png"
        return img_id, img, self._path(folder, "mask", mask_name)

    def _load_items(self) -> List[dict]:
        required = VPO_COLUMNS + (("multi_instance",) if self.setting == "msmi" else ())
        _, rows = read_csv_rows(self.ann_file, required, self.DATASET_NAME)
        audio_root = self._path(self.audio_prefix)
        groups: OrderedDict[str, dict] = OrderedDict()
        for r in rows:
            split = {"val": "test"}.get(r["split"], r["split"])
            if split not in self.SPLITS:
                raise LayoutError(f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: bad split {r['split']!r}")
            if split != self.split:
                continue
            img_id, img, mask = self._img_mask(r)
            key = f"{img_id}_{int(float(r['ann_Ids']))}" if self.setting == "ss" else str(img_id)
            pan = r.get("audio_pos")
            try:
                pan = float(pan) if pan not in (None, "") else None
            except ValueError:
                raise LayoutError(
                    f"{self.DATASET_NAME}: {self.ann_file} line {r['#line']}: audio_pos {pan!r} is not a number"
                ) from None
            g = groups.setdefault(key, dict(img=img, mask=mask, audio=[], pan=[], cats=[]))
            g["audio"].append(f"{audio_root}/{r['vgg_file']}.wav")
            g["pan"].append(pan)
            g["cats"].append(r["cateName"])
        items = []
        for key, g in groups.items():
            pans = None if any(p is None for p in g["pan"]) else g["pan"]
            items.append(
                self._frame_item(
                    img_path=g["img"],
                    seg_map_path=g["mask"],
                    audio_path=g["audio"][0] if self.setting == "ss" else g["audio"],
                    audio_start=None,
                    audio_end=None,
                    label_format="coco_vpo",
                    clip_id=key,
                    frame_index=0,
                    has_label=True,
                    audio_pan=pans,
                    audio_window_seconds=self.audio_window_seconds,
                    categories=g["cats"],
                )
            )
        return items
