"""Dice loss of DDESeg (paper §3.4, eq. 18 term ``lambda_dice * L_dice``, lambda_dice = 5).

Official ``weighted_Dice_Loss`` (field notes §1.8): probabilities p (sigmoid for C = 1, softmax for C > 1), one-hot
targets t, per sample b and class c

    dice_bc = (2 * sum_i p_bci t_bci + s) / (sum_i p_bci + sum_i t_bci + s),   s = 1e-5,
    L_dice  = 1 - mean_{b, c} dice_bc,

background included (for C = 1 only the foreground channel exists, as the official code). Pixels with
``target == ignore_index`` are removed from every sum (the official code has no ignore value).

Shapes: logits [B, C, H, W], target [B, H, W] int64 -> scalar.
"""

from __future__ import annotations

from typing import Optional

from mmseg.registry import MODELS
from torch import Tensor

from .utils import SmoothRegionLoss, check_loss_inputs, region_probs_and_targets

__all__ = ["AVSDiceLoss", "avs_dice_loss"]


def avs_dice_loss(
    logits: Tensor,
    target: Tensor,
    ignore_index: Optional[int] = 255,
    smooth: float = 1e-5,
    weight: Optional[Tensor] = None,
) -> Tensor:
    """Per-sample per-class soft Dice loss, ``1 - mean_{b,c} dice_bc`` (see module docstring). Returns a scalar."""
    check_loss_inputs("avs_dice_loss", logits, target, ignore_index, weight)
    probs, onehot = region_probs_and_targets(logits, target, ignore_index, weight)
    inter = (probs * onehot).sum(2)
    denom = probs.sum(2) + onehot.sum(2)
    dice = (2.0 * inter + smooth) / (denom + smooth)
    return 1.0 - dice.mean()


@MODELS.register_module()
class AVSDiceLoss(SmoothRegionLoss):
    """Registered Dice term of eq. (18).

    Args:
        loss_weight: lambda_dice (paper: 5.0).
        smooth: additive smoothing s of numerator and denominator (official 1e-5).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    _loss_fn = staticmethod(avs_dice_loss)

    def __init__(
        self,
        loss_weight: float = 5.0,
        smooth: float = 1e-5,
        ignore_index: Optional[int] = 255,
        loss_name: str = "loss_dice",
    ) -> None:
        super().__init__(loss_weight, smooth, ignore_index, loss_name)
