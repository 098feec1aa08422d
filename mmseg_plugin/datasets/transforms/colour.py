"""``RandomChannelShuffle``: permute the colour channels of the image (a colour-invariance augmentation).

No paper equation (the paper's recipe uses the release's random crop + ColorJitter on AVSBench). Used by the harder
synthetic preset, where an object's colours belong to its *instance* and never to its class, and instances are
disjoint between splits: without colour augmentation the small from-scratch model learns the training instances'
colours instead of the class shapes (docs/training.md, "Learning from sound on the harder set"). Together with mmseg's
``PhotoMetricDistortion`` (a wide ``hue_delta``) and mmcv's ``RandomGrayscale`` it makes colour uninformative.

Reads / writes ``results['img']`` ``[H, W, 3]`` (any dtype); masks and audio are untouched. With probability
``prob`` the channels are permuted by a uniformly drawn permutation (the identity included) from numpy's global
generator (seeded per iteration by the training loop).
"""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ["RandomChannelShuffle"]


@TRANSFORMS.register_module()
class RandomChannelShuffle(BaseTransform):
    """Permute the image's 3 colour channels with probability ``prob`` (see the module docstring)."""

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"RandomChannelShuffle: prob must be in [0, 1], got {prob!r}")
        self.prob = float(prob)

    def transform(self, results: dict) -> dict:
        img = results.get("img")
        if img is None:
            raise KeyError("RandomChannelShuffle: results has no 'img' (place it after the image loader)")
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"RandomChannelShuffle: expected an [H, W, 3] image, got shape {tuple(img.shape)} "
                f"({results.get('img_path', 'in-memory image')})"
            )
        if np.random.rand() < self.prob:
            results["img"] = np.ascontiguousarray(img[..., np.random.permutation(3)])
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob})"
