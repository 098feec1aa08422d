"""Softmax cross-entropy loss of DDESeg for semantic tasks (paper §3.4, eq. 18: the "bce" term, weight 5).

Eq. (18) names the pixel term "bce"; for semantic tasks (AVSS / VPO, C > 1 classes with background 0) the official
``CE_Loss`` applies ``CrossEntropyLoss`` (field notes §1.8). Averaged over the non-ignored pixels:

    L_ce = sum_i w_i * ce(x_i, t_i) / #{i : t_i != ignore_index},

w_i the optional per-pixel weight (0 at ignored pixels); a batch with no valid pixel gives 0 instead of NaN.
(mmseg's own ``CrossEntropyLoss`` divides by all pixels unless ``avg_non_ignore=True``; torch's
``cross_entropy`` divides by the valid ones, as here.)

Shapes: logits [B, C, H, W] with C > 1, target [B, H, W] int64 in [0, C) or ignore_index -> scalar.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .utils import PixelLoss, check_loss_inputs, pixel_weights

__all__ = ["AVSCrossEntropyLoss", "avs_cross_entropy_loss"]


def avs_cross_entropy_loss(
    logits: Tensor, target: Tensor, ignore_index: Optional[int] = 255, weight: Optional[Tensor] = None
) -> Tensor:
    """Mean softmax cross-entropy over non-ignored pixels of a C > 1 prediction (see module docstring)."""
    check_loss_inputs("avs_cross_entropy_loss", logits, target, ignore_index, weight)
    if logits.shape[1] < 2:
        raise ValueError(
            f"avs_cross_entropy_loss: softmax CE needs logits with C > 1, got C = {logits.shape[1]}; "
            "use AVSBCELoss for binary (C = 1) predictions"
        )
    x = logits.to(torch.promote_types(logits.dtype, torch.float32))
    ii = -100 if ignore_index is None else ignore_index
    per_pixel = F.cross_entropy(x, target.long(), reduction="none", ignore_index=ii)
    w = pixel_weights(target, ignore_index, weight, x.dtype)
    count = (target != ii).sum().to(x.dtype)
    return (per_pixel * w).sum() / count.clamp(min=1.0)


@MODELS.register_module()
class AVSCrossEntropyLoss(PixelLoss):
    """Registered pixel-wise CE term of eq. (18) for semantic tasks (C > 1).

    Args:
        loss_weight: lambda_bce (paper: 5.0).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    _loss_fn = staticmethod(avs_cross_entropy_loss)

    def __init__(self, loss_weight: float = 5.0, ignore_index: Optional[int] = 255, loss_name: str = "loss_ce") -> None:
        super().__init__(loss_weight, ignore_index, loss_name)
