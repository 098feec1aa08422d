"""Soft IoU loss of DDESeg (paper §3.4, eq. 18 term ``lambda_iou * L_iou``, lambda_iou = 2).

Official ``IoU_Loss`` (field notes §1.8): probabilities p (sigmoid for C = 1, softmax for C > 1), one-hot targets t,
per sample b and class c

    iou_bc = (sum_i p_bci t_bci + s) / (sum_i p_bci + sum_i t_bci - sum_i p_bci t_bci + s),   s = 1e-5,
    L_iou  = 1 - mean_{b, c} iou_bc,

background included (C = 1: the foreground channel only). Pixels with ``target == ignore_index`` are removed from
every sum.

Shapes: logits [B, C, H, W], target [B, H, W] int64 -> scalar.
"""

from __future__ import annotations

from typing import Optional

from mmseg.registry import MODELS
from torch import Tensor

from .utils import SmoothRegionLoss, check_loss_inputs, region_probs_and_targets

__all__ = ["AVSIoULoss", "avs_iou_loss"]


def avs_iou_loss(
    logits: Tensor,
    target: Tensor,
    ignore_index: Optional[int] = 255,
    smooth: float = 1e-5,
    weight: Optional[Tensor] = None,
) -> Tensor:
    """Per-sample per-class soft IoU loss, ``1 - mean_{b,c} iou_bc`` (see module docstring). Returns a scalar."""
    check_loss_inputs("avs_iou_loss", logits, target, ignore_index, weight)
    probs, onehot = region_probs_and_targets(logits, target, ignore_index, weight)
    inter = (probs * onehot).sum(2)
    union = probs.sum(2) + onehot.sum(2) - inter
    iou = (inter + smooth) / (union + smooth)
    return 1.0 - iou.mean()


@MODELS.register_module()
class AVSIoULoss(SmoothRegionLoss):
    """Registered soft-IoU term of eq. (18).

    Args:
        loss_weight: lambda_iou (paper: 2.0).
        smooth: additive smoothing s (official 1e-5).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    _loss_fn = staticmethod(avs_iou_loss)

    def __init__(
        self,
        loss_weight: float = 2.0,
        smooth: float = 1e-5,
        ignore_index: Optional[int] = 255,
        loss_name: str = "loss_iou",
    ) -> None:
        super().__init__(loss_weight, smooth, ignore_index, loss_name)
