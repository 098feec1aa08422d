"""``AVSDataPreprocessor``: batches the packed audio-visual samples for the segmentor.

``PackAVSInputs`` yields, per sample, ``inputs = dict(img=uint8 [3, H, W], audio=float32 [T] | [2, T] | [d])``
and a ``SegDataSample``. mmengine's ``pseudo_collate`` turns a batch of those into
``inputs = dict(img=[...B tensors], audio=[...B tensors])`` (a dict of lists). This preprocessor

* converts images to float, optionally BGR -> RGB (mmcv's ``LoadImageFromFile`` reads BGR), normalises with
  ``mean`` / ``std`` and pads them (value ``pad_val``, after normalisation, right/bottom) to a common size: the
  batch maximum, rounded up to ``size_divisor`` if given, or the fixed ``size`` if given;
* pads every ``gt_sem_seg`` the same way with ``seg_pad_val`` (255 = ignore) and records ``batch_input_shape``,
  ``pad_shape`` and ``padding_size`` (left, right, top, bottom) in each data sample's metainfo, as mmseg does (the
  padding itself is mmseg's ``stack_batch``);
* stacks the audio into ``[B, T]`` (mono), ``[B, 2, T]`` (stereo) or ``[B, d]`` (precomputed features). Audio
  windows of one batch must have equal shapes (``LoadAudioWindow`` pads / cuts every window to the same length);
  a mismatch is an error naming the sample, never silently padded.

Output: ``dict(inputs=dict(img=float [B, 3, H, W], audio=float [B, ...]), data_samples=[...])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any, Optional

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS
from mmseg.utils import stack_batch


def _as_per_sample(inputs: Any) -> tuple[list, list]:
    """Return (images, audios) lists from a dict of lists or a list of dicts."""
    if isinstance(inputs, Mapping):
        if "img" not in inputs or "audio" not in inputs:
            raise KeyError(f"AVSDataPreprocessor: inputs must hold 'img' and 'audio', got keys {sorted(inputs)}")
        imgs, auds = inputs["img"], inputs["audio"]
        if torch.is_tensor(imgs):  # already stacked
            imgs = list(imgs)
        if torch.is_tensor(auds):
            auds = list(auds)
        return list(imgs), list(auds)
    if isinstance(inputs, Sequence):
        imgs, auds = [], []
        for i, item in enumerate(inputs):
            if not isinstance(item, Mapping) or "img" not in item or "audio" not in item:
                raise KeyError(f"AVSDataPreprocessor: sample {i} inputs must be a dict with 'img' and 'audio'")
            imgs.append(item["img"])
            auds.append(item["audio"])
        return imgs, auds
    raise TypeError(f"AVSDataPreprocessor: inputs must be a dict of modalities, got {type(inputs).__name__}")


@MODELS.register_module()
class AVSDataPreprocessor(BaseDataPreprocessor):
    """Normalise + pad images, pad masks, stack audio.

    Args:
        mean: per-channel mean (in the RGB order after ``bgr_to_rgb``), 0-255 scale. ``None`` skips normalisation.
        std: per-channel std, 0-255 scale.
        bgr_to_rgb: swap the channel order of the uint8 images first (True for mmcv-loaded BGR images).
        size: fixed (H, W) to pad every batch to (must be >= each image); exclusive with ``size_divisor``.
        size_divisor: pad the batch maximum up to a multiple of this.
        pad_val: image padding value (after normalisation).
        seg_pad_val: mask padding value (255 = ignore).
        non_blocking: passed to ``.to(device)``.
    """

    def __init__(
        self,
        mean: Optional[Sequence[Number]] = (123.675, 116.28, 103.53),
        std: Optional[Sequence[Number]] = (58.395, 57.12, 57.375),
        bgr_to_rgb: bool = True,
        size: Optional[Sequence[int]] = None,
        size_divisor: Optional[int] = None,
        pad_val: float = 0.0,
        seg_pad_val: int = 255,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        if (mean is None) != (std is None):
            raise ValueError("AVSDataPreprocessor: give both mean and std, or neither")
        if size is not None and size_divisor is not None:
            raise ValueError("AVSDataPreprocessor: give size or size_divisor, not both")
        self._normalize = mean is not None
        if self._normalize:
            if len(mean) != 3 or len(std) != 3:
                raise ValueError(f"AVSDataPreprocessor: mean/std need 3 values, got {mean} / {std}")
            if any(float(s) <= 0 for s in std):
                raise ValueError(f"AVSDataPreprocessor: std must be positive, got {std}")
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def _target_size(self, shapes: list) -> tuple:
        h = max(s[0] for s in shapes)
        w = max(s[1] for s in shapes)
        if self.size is not None:
            if h > self.size[0] or w > self.size[1]:
                raise ValueError(f"AVSDataPreprocessor: image {h}x{w} is larger than the fixed pad size {self.size}")
            return self.size
        if self.size_divisor:
            d = self.size_divisor
            h, w = -(-h // d) * d, -(-w // d) * d
        return h, w

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        imgs, auds = _as_per_sample(data["inputs"])
        samples = data.get("data_samples")
        if len(imgs) != len(auds):
            raise ValueError(f"AVSDataPreprocessor: {len(imgs)} images but {len(auds)} audio windows")
        if samples is not None and len(samples) != len(imgs):
            raise ValueError(f"AVSDataPreprocessor: {len(imgs)} images but {len(samples)} data samples")

        out_imgs = []
        for i, img in enumerate(imgs):
            if img.dim() != 3 or img.shape[0] != 3:
                raise ValueError(f"AVSDataPreprocessor: sample {i} image must be [3, H, W], got {tuple(img.shape)}")
            img = img.float()
            if self.bgr_to_rgb:
                img = img[[2, 1, 0], ...]
            if self._normalize:
                img = (img - self.mean) / self.std
            out_imgs.append(img)
        th, tw = self._target_size([im.shape[-2:] for im in out_imgs])
        if samples is not None:
            for i, (img, ds) in enumerate(zip(out_imgs, samples)):
                if "gt_sem_seg" in ds and ds.gt_sem_seg.data.shape[-2:] != img.shape[-2:]:
                    raise ValueError(
                        f"AVSDataPreprocessor: sample {i} ({ds.metainfo.get('img_path')}) mask "
                        f"{tuple(ds.gt_sem_seg.data.shape[-2:])} does not match image {tuple(img.shape[-2:])}"
                    )
        img_shapes = [ds.metainfo.get("img_shape") for ds in samples] if samples is not None else []
        # mmseg's rule: right/bottom padding of the images (pad_val) and of the masks (seg_pad_val) to (th, tw)
        img_batch, _ = stack_batch(out_imgs, samples, size=(th, tw), pad_val=self.pad_val, seg_pad_val=self.seg_pad_val)
        for img, ds, img_shape in zip(out_imgs, samples or [], img_shapes):
            # this preprocessor's metainfo (pad_shape also without a mask; stack_batch rewrote img_shape)
            h, w = img.shape[-2:]
            meta = dict(batch_input_shape=(th, tw), pad_shape=(th, tw), padding_size=[0, tw - w, 0, th - h])
            if img_shape is not None:
                meta["img_shape"] = img_shape
            ds.set_metainfo(meta)

        shapes = {tuple(a.shape) for a in auds}
        if len(shapes) != 1:
            detail = ", ".join(
                f"{(samples[i].metainfo.get('audio_path') if samples is not None else i)}: {tuple(a.shape)}"
                for i, a in enumerate(auds)
            )
            raise ValueError(f"AVSDataPreprocessor: audio windows of one batch differ in shape ({detail})")
        audio = torch.stack([a.float() for a in auds], 0)
        if not torch.isfinite(audio).all():
            raise ValueError("AVSDataPreprocessor: audio batch contains NaN or inf")
        return dict(inputs=dict(img=img_batch, audio=audio), data_samples=samples)
