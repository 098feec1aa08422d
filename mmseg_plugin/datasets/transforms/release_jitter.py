"""``ReleaseColorJitter``: the DDESeg release's colour jitter, torchvision's
``ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1)`` applied to the RGB PIL image (its
``ClassificalTransformWithMask`` in ``dataload/data_augmentation.py``, after the horizontal flip and before the
224 x 224 resize; see ``SoundingBoxRandomCrop`` for the whole order).

Applied with probability 1 (the release has no probability on it). Per call, as torchvision's ``ColorJitter``:

- the order of the four operations is a uniformly drawn permutation of (brightness, contrast, saturation, hue);
- brightness, contrast and saturation factors ~ ``U(max(0, 1 - v), 1 + v)`` (``v = 0.2``: ``[0.8, 1.2]``), hue shift
  ~ ``U(-v, v)`` (``v = 0.1``: ``[-0.1, 0.1]`` of the hue circle); a value of 0 switches that operation off, a
  ``(min, max)`` pair is used as the range as it is;
- each operation is torchvision's PIL kernel (``torchvision.transforms.v2.functional.adjust_*`` on a PIL image: PIL's
  ``ImageEnhance`` for brightness / contrast / saturation, a uint8 HSV round trip for hue), so the result equals the
  release's ``ColorJitter`` on the same factors and order, bit for bit.

Reads ``results['img']`` as mmcv loads it (BGR uint8 ``[H, W, 3]``), jitters it in RGB and writes it back as BGR
uint8; masks, ``seg_fields`` and audio are untouched. Random numbers come from numpy's global generator (seeded per
worker and iteration by the training loop; the release draws them from torch's). Errors name ``results['img_path']``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from PIL import Image
from torchvision.transforms.v2 import functional as TF

__all__ = ["ReleaseColorJitter"]

_Range = Union[float, Sequence[float]]
_OPS = ("brightness", "contrast", "saturation", "hue")


def _range(value: _Range, name: str, hue: bool) -> Optional[Tuple[float, float]]:
    """torchvision's ``ColorJitter._check_input``: a number v -> (1 - v, 1 + v) clipped at 0 ((-v, v) for hue), a
    pair as it is; ``None`` when the range is the identity."""
    center, bound = (0.0, 0.5) if hue else (1.0, float("inf"))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"ReleaseColorJitter: {name} must be non-negative, got {value!r}")
        lo, hi = center - float(value), center + float(value)
        if not hue:
            lo = max(lo, 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = (float(v) for v in value)
    else:
        raise ValueError(f"ReleaseColorJitter: {name} must be a number or a (min, max) pair, got {value!r}")
    low_bound = -bound if hue else 0.0
    if not low_bound <= lo <= hi <= bound:
        raise ValueError(f"ReleaseColorJitter: {name} range must lie in [{low_bound}, {bound}], got {(lo, hi)}")
    return None if lo == hi == center else (lo, hi)


@TRANSFORMS.register_module()
class ReleaseColorJitter(BaseTransform):
    """torchvision's ColorJitter on the RGB image, the release's parameters by default (see the module docstring)."""

    def __init__(
        self, brightness: _Range = 0.2, contrast: _Range = 0.2, saturation: _Range = 0.2, hue: _Range = 0.1
    ) -> None:
        self.ranges = {
            "brightness": _range(brightness, "brightness", False),
            "contrast": _range(contrast, "contrast", False),
            "saturation": _range(saturation, "saturation", False),
            "hue": _range(hue, "hue", True),
        }

    def draw_params(self) -> Tuple[Tuple[str, ...], dict]:
        """(operation order, {operation: factor or None}) from numpy's global generator, as torchvision's
        ``ColorJitter.get_params`` (the permutation first, then the factors in brightness, contrast, saturation, hue
        order)."""
        order = tuple(_OPS[i] for i in np.random.permutation(4))
        factors = {op: (None if r is None else float(np.random.uniform(*r))) for op, r in self.ranges.items()}
        return order, factors

    @staticmethod
    def apply(img_bgr: np.ndarray, order: Sequence[str], factors: dict) -> np.ndarray:
        """Jitter a BGR uint8 image with the given order and factors (torchvision's PIL kernels, in RGB)."""
        pil = Image.fromarray(np.ascontiguousarray(img_bgr[..., ::-1]))
        for op in order:
            factor = factors.get(op)
            if factor is not None:
                pil = getattr(TF, f"adjust_{op}")(pil, factor)
        return np.ascontiguousarray(np.asarray(pil)[..., ::-1])

    def transform(self, results: dict) -> dict:
        img = results.get("img")
        if img is None:
            raise KeyError(f"{type(self).__name__}: results has no 'img' (place it after the image loader)")
        where = results.get("img_path", "in-memory image")
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: expected a non-empty [H, W, 3] image, got {img.shape} ({where})")
        if img.dtype != np.uint8:
            raise ValueError(
                f"{type(self).__name__}: expected a uint8 image (the release jitters 8-bit PIL images), got "
                f"{img.dtype} ({where}); load without to_float32 or place it before any float conversion"
            )
        order, factors = self.draw_params()
        results["img"] = self.apply(img, order, factors)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v}" for k, v in self.ranges.items()) + ")"
