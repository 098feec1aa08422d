"""DDESeg's training losses (paper §3.4, eq. 18), registered in mmseg's MODELS registry.

``L = lambda_dice * L_dice + lambda_bce * L_bce + lambda_iou * L_iou`` with (5, 5, 2): ``AVSDiceLoss`` (5.0),
``AVSBCELoss`` (binary, C = 1) or ``AVSCrossEntropyLoss`` (semantic, C > 1) (5.0), ``AVSIoULoss`` (2.0). Each term
is usable alone and logs under its own ``loss_name`` (``loss_dice``, ``loss_bce`` / ``loss_ce``, ``loss_iou``).
"""

from .bce_loss import AVSBCELoss, avs_bce_loss
from .cross_entropy_loss import AVSCrossEntropyLoss, avs_cross_entropy_loss
from .dice_loss import AVSDiceLoss, avs_dice_loss
from .iou_loss import AVSIoULoss, avs_iou_loss

__all__ = [
    "AVSBCELoss",
    "AVSCrossEntropyLoss",
    "AVSDiceLoss",
    "AVSIoULoss",
    "avs_bce_loss",
    "avs_cross_entropy_loss",
    "avs_dice_loss",
    "avs_iou_loss",
]
