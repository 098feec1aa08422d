"""``PackAVSInputs``: pack image + audio as a dict of modalities and the label map into a ``SegDataSample``.

No paper equation. Output (contracts, "MMSeg plugin data flow")::

    inputs       = dict(img=uint8 Tensor [3, H, W] (channel order as loaded: BGR with mmcv's LoadImageFromFile),
                        audio=float32 Tensor [T] (mono) / [2, T] (stereo) / [1, 96, 64] (log-mel cache))
    data_samples = SegDataSample with gt_sem_seg = PixelData(data=int64 [1, H, W]) and metainfo
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

__all__ = ["PackAVSInputs"]

DEFAULT_META_KEYS = (
    "img_path", "seg_map_path", "audio_path", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip",
    "flip_direction", "reduce_zero_label", "clip_id", "frame_index", "has_label", "label_format", "audio_start",
    "audio_end", "audio_window", "audio_sample_rate", "subset", "category", "categories", "a_obj",
)  # fmt: skip


@TRANSFORMS.register_module()
class PackAVSInputs(BaseTransform):
    """Pack ``img``, ``audio`` and ``gt_seg_map`` (if present) for AVS models.

    Args:
        meta_keys: keys copied into the data sample's metainfo when present in the results.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        for key in ("img", "audio"):
            if key not in results:
                raise KeyError(
                    f"PackAVSInputs: results of {results.get('img_path')} lack {key!r} "
                    "(put LoadImageFromFile and LoadAudioWindow before PackAVSInputs)"
                )
        img = results["img"]
        if img.ndim == 2:
            img = img[..., None]
        img_t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        audio = results["audio"]
        audio_t = audio if isinstance(audio, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(audio))
        packed = dict(inputs=dict(img=img_t, audio=audio_t.float()))
        sample = SegDataSample()
        if "gt_seg_map" in results:
            gt = results["gt_seg_map"]
            if gt.shape[:2] != img.shape[:2]:
                raise ValueError(
                    f"PackAVSInputs: gt_seg_map {gt.shape[:2]} and img {img.shape[:2]} differ for "
                    f"{results.get('img_path')}"
                )
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt[None].astype(np.int64)))
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        packed["data_samples"] = sample
        return packed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(meta_keys={self.meta_keys})"
