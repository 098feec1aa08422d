"""Binary cross-entropy loss of DDESeg for binary tasks (paper §3.4, eq. 18 term ``lambda_bce * L_bce``, = 5).

Official ``CE_Loss`` with ``num_classes == 1`` (field notes §1.8): ``BCEWithLogits`` on the single foreground
logit, averaged over pixels. Here the average runs over the non-ignored pixels (``target != ignore_index``):

    L_bce = sum_i w_i * bce(x_i, t_i) / #{i : t_i != ignore_index},

with w_i the optional per-pixel weight (1 by default, 0 at ignored pixels); a batch whose every pixel is ignored
gives 0 (with a gradient of 0) rather than NaN.

Shapes: logits [B, 1, H, W], target [B, H, W] int64 in {0, 1, ignore_index} -> scalar.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .utils import PixelLoss, check_loss_inputs, pixel_weights

__all__ = ["AVSBCELoss", "avs_bce_loss"]


def avs_bce_loss(
    logits: Tensor, target: Tensor, ignore_index: Optional[int] = 255, weight: Optional[Tensor] = None
) -> Tensor:
    """Mean BCE-with-logits over non-ignored pixels of a C = 1 prediction (see module docstring)."""
    check_loss_inputs("avs_bce_loss", logits, target, ignore_index, weight)
    if logits.shape[1] != 1:
        raise ValueError(
            f"avs_bce_loss: binary BCE needs logits with C = 1, got C = {logits.shape[1]}; "
            "use AVSCrossEntropyLoss for semantic (C > 1) predictions"
        )
    x = logits[:, 0].to(torch.promote_types(logits.dtype, torch.float32))
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    t = (target * valid).to(x.dtype)  # ignored pixels get target 0 and weight 0
    w = pixel_weights(target, ignore_index, weight, x.dtype)
    per_pixel = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    count = valid.sum().to(x.dtype)
    return (per_pixel * w).sum() / count.clamp(min=1.0)


@MODELS.register_module()
class AVSBCELoss(PixelLoss):
    """Registered BCE term of eq. (18) for binary tasks (S4 / MS3, C = 1).

    Args:
        loss_weight: lambda_bce (paper: 5.0).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    _loss_fn = staticmethod(avs_bce_loss)

    def __init__(
        self, loss_weight: float = 5.0, ignore_index: Optional[int] = 255, loss_name: str = "loss_bce"
    ) -> None:
        super().__init__(loss_weight, ignore_index, loss_name)
