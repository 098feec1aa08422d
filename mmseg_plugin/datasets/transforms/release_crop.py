"""``SoundingBoxRandomCrop``: the DDESeg release's box-aware random crop (``FastRandomCropWithBbox`` in its
``dataload/data_augmentation.py``, built in its AVSS / VPO training loaders with ``aspect_ratio_range=(0.75, 1.33)``,
``min_area_ratio=0.6``).

Place it first among the training augmentations, on the image at its original size: the release runs
crop -> horizontal flip (p = 0.5) -> ColorJitter (``ReleaseColorJitter``) -> resize to 224 x 224 (PIL bilinear for
the image, nearest for the mask; mmseg's ``Resize`` with ``keep_ratio=False, backend='pillow'`` is that resize).
The crop is **not** resized back to the original size: the following ``Resize`` brings the (smaller, differently
shaped) crop straight to the network's input size, so a crop also zooms in and changes the aspect ratio.

One draw per call, applied with probability 1, exactly as the release (one attempt, no retry):

1. The sounding box ``[x_min, y_min, x_max)`` x ``[y_min, y_max)`` in pixels of the current image. Given as
   ``results['sounding_bbox']`` (normalised ``[x0, y0, x1, y1]``, the release's ``avss_bbox_orisize.json`` format;
   pixels are ``int(x0 * W)``, ``int(y0 * H)``, ``int(x1 * W)``, ``int(y1 * H)`` as in the release), or, when that
   key is absent, the tight box of the sounding pixels of ``results[box_seg_key]`` (label neither ``background_index``
   nor ``ignore_index``; ``x_max`` / ``y_max`` exclusive). Its area is ``A_box``.
2. ``aspect ~ U(aspect_ratio_range)`` (width / height), ``area ~ U(min_area_ratio * A_box, W * H)``.
3. ``w = min(int(sqrt(area * aspect)), W)``, ``h = min(int(sqrt(area / aspect)), H)`` (so the aspect range holds up
   to integer truncation unless a side is clipped to the full image side).
4. ``x0 ~ U{0 .. W - w}``, ``y0 ~ U{0 .. H - h}`` (inclusive integers).
5. If the crop keeps at least ``min_area_ratio`` of the box (``|crop ∩ box| >= min_area_ratio * A_box``) the image
   and every map in ``results['seg_fields']`` are cropped to ``[y0:y0+h, x0:x0+w]``; otherwise nothing changes.

No sounding object (an all-background / all-ignore map and no ``sounding_bbox``, or ``sounding_bbox=None``): no
crop, the release's behaviour for a frame without a box (``bbox is None``: image and mask returned unchanged). A
zero-area ``sounding_bbox`` counts as no sounding object too (the release's arithmetic would accept any crop,
an empty one included).

Random numbers come from numpy's global generator (seeded per worker and iteration by the training loop), drawn in
the release's order (aspect, area, x0, y0; Python's ``random.uniform`` / ``randint`` there). Writes
``results['img']``, the maps, ``img_shape`` and ``crop_box`` (``(x0, y0, x1, y1)`` of the crop, or ``None`` when the
image was left whole). Errors name ``results['img_path']``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ["SoundingBoxRandomCrop", "sounding_box"]


def sounding_box(seg: np.ndarray, background_index: int = 0, ignore_index: int = 255) -> Optional[Tuple[int, ...]]:
    """Tight pixel box ``(x_min, y_min, x_max, y_max)`` (max exclusive) of the labels other than background and
    ignore, or ``None`` when there is none."""
    sounding = (seg != background_index) & (seg != ignore_index)
    rows = np.flatnonzero(sounding.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(sounding.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@TRANSFORMS.register_module()
class SoundingBoxRandomCrop(BaseTransform):
    """The release's box-aware random crop (see the module docstring).

    Args:
        aspect_ratio_range: (min, max) of the crop's width / height draw; the release's (0.75, 1.33).
        min_area_ratio: fraction of the sounding box the crop must keep, and the lower bound of the area draw as a
            fraction of the box area; the release's 0.6.
        box_seg_key: the map the box is derived from when ``results`` has no ``sounding_bbox``.
        background_index: label that is not a sounding object (0).
        ignore_index: label that is not a sounding object (255).
    """

    def __init__(
        self,
        aspect_ratio_range: Sequence[float] = (0.75, 1.33),
        min_area_ratio: float = 0.6,
        box_seg_key: str = "gt_seg_map",
        background_index: int = 0,
        ignore_index: int = 255,
    ) -> None:
        lo, hi = (float(v) for v in aspect_ratio_range)
        if not 0.0 < lo <= hi:
            raise ValueError(f"SoundingBoxRandomCrop: aspect_ratio_range must be 0 < min <= max, got {(lo, hi)}")
        if not 0.0 < float(min_area_ratio) <= 1.0:
            raise ValueError(f"SoundingBoxRandomCrop: min_area_ratio must be in (0, 1], got {min_area_ratio!r}")
        self.aspect_ratio_range = (lo, hi)
        self.min_area_ratio = float(min_area_ratio)
        self.box_seg_key = box_seg_key
        self.background_index = int(background_index)
        self.ignore_index = int(ignore_index)

    def _fail(self, results: dict, message: str):
        raise ValueError(f"{type(self).__name__}: {message} ({results.get('img_path', 'in-memory image')})")

    def _box(self, results: dict, height: int, width: int) -> Optional[Tuple[int, ...]]:
        if "sounding_bbox" in results:
            bbox = results["sounding_bbox"]
            if bbox is None:
                return None
            try:
                x0, y0, x1, y1 = (float(v) for v in bbox)
            except (TypeError, ValueError):
                self._fail(results, f"sounding_bbox must be 4 numbers [x0, y0, x1, y1], got {bbox!r}")
            if not (0.0 <= x0 <= x1 <= 1.0 and 0.0 <= y0 <= y1 <= 1.0):
                self._fail(results, f"sounding_bbox must be normalised with x0 <= x1, y0 <= y1, got {bbox!r}")
            return int(x0 * width), int(y0 * height), int(x1 * width), int(y1 * height)
        seg = results.get(self.box_seg_key)
        if seg is None:
            self._fail(results, f"results has neither 'sounding_bbox' nor '{self.box_seg_key}' to find the box in")
        return sounding_box(np.asarray(seg), self.background_index, self.ignore_index)

    def transform(self, results: dict) -> dict:
        img = results.get("img")
        if img is None:
            raise KeyError(f"{type(self).__name__}: results has no 'img' (place it after the image loader)")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            self._fail(results, f"expected a non-empty [H, W, 3] image, got shape {tuple(img.shape)}")
        height, width = img.shape[:2]
        seg_keys = list(dict.fromkeys([*results.get("seg_fields", []), self.box_seg_key]))
        for key in seg_keys:
            seg = results.get(key)
            if seg is not None and tuple(seg.shape[:2]) != (height, width):
                self._fail(results, f"'{key}' has size {tuple(seg.shape[:2])}, the image {(height, width)}")
        results["crop_box"] = None
        box = self._box(results, height, width)
        if box is None:
            return results
        x_min, y_min, x_max, y_max = box
        box_area = (x_max - x_min) * (y_max - y_min)
        if box_area <= 0:
            return results  # a degenerate (zero-area) box: no sounding object
        aspect = np.random.uniform(*self.aspect_ratio_range)
        area = np.random.uniform(self.min_area_ratio * box_area, width * height)
        crop_w = min(int(math.sqrt(area * aspect)), width)
        crop_h = min(int(math.sqrt(area / aspect)), height)
        x0 = int(np.random.randint(0, width - crop_w + 1))
        y0 = int(np.random.randint(0, height - crop_h + 1))
        x1, y1 = x0 + crop_w, y0 + crop_h
        inter = max(0, min(x_max, x1) - max(x_min, x0)) * max(0, min(y_max, y1) - max(y_min, y0))
        if inter < self.min_area_ratio * box_area:
            return results  # the release makes one attempt and keeps the whole image when it fails
        results["img"] = img[y0:y1, x0:x1]
        for key in seg_keys:
            if results.get(key) is not None:
                results[key] = results[key][y0:y1, x0:x1]
        results["img_shape"] = (crop_h, crop_w)
        results["crop_box"] = (x0, y0, x1, y1)
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(aspect_ratio_range={self.aspect_ratio_range}, "
            f"min_area_ratio={self.min_area_ratio}, box_seg_key={self.box_seg_key!r})"
        )
