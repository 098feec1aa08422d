"""Shared input handling of the AVS losses (paper §3.4, eq. 18): validation, activation, one-hot and pixel weights.

Inputs everywhere: ``logits`` [B, C, H, W] (C = 1: binary task, sigmoid; C > 1: semantic task, softmax over C with
background = 0) and ``target`` [B, H, W] int64 class indices (binary: 0/1), ``ignore_index`` (default 255) marking
pixels excluded from the loss. Optional ``weight`` [B, H, W] multiplies each pixel's contribution.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["check_loss_inputs", "pixel_weights", "region_probs_and_targets", "validate_loss_name"]


def validate_loss_name(cls_name: str, loss_name: str) -> str:
    """mmseg sums only log entries whose key starts with ``loss``; require the ``loss_`` prefix explicitly."""
    if not isinstance(loss_name, str) or not loss_name.startswith("loss_"):
        raise ValueError(
            f"{cls_name}: loss_name must start with 'loss_' so mmseg back-propagates it, got {loss_name!r}"
        )
    return loss_name


def check_loss_inputs(
    name: str, logits: Tensor, target: Tensor, ignore_index: Optional[int], weight: Optional[Tensor] = None
) -> None:
    """Validate shapes, dtypes and target values; raise ValueError naming the loss and the argument."""
    if logits.dim() != 4:
        raise ValueError(f"{name}: logits must be [B, C, H, W], got shape {tuple(logits.shape)}")
    if not logits.dtype.is_floating_point:
        raise ValueError(f"{name}: logits must be floating point, got {logits.dtype}")
    b, c, h, w = logits.shape
    if target.shape != (b, h, w):
        raise ValueError(
            f"{name}: target must be [B, H, W] = {(b, h, w)} matching logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise ValueError(f"{name}: target must hold integer class indices (int64), got {target.dtype}")
    if weight is not None and weight.shape != target.shape:
        raise ValueError(f"{name}: weight must be [B, H, W] like target, got {tuple(weight.shape)}")
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    tv = target[valid]
    num_values = 2 if c == 1 else c
    bad = (tv < 0) | (tv >= num_values)
    if bool(bad.any()):
        vals = torch.unique(tv[bad])[:8].tolist()
        kind = "binary (C = 1) targets must be 0/1" if c == 1 else f"targets must lie in [0, {c})"
        raise ValueError(f"{name}: {kind} or ignore_index={ignore_index}; found {vals}")


def pixel_weights(target: Tensor, ignore_index: Optional[int], weight: Optional[Tensor], dtype: torch.dtype) -> Tensor:
    """[B, H, W] per-pixel weights: 0 at ``ignore_index``, times ``weight`` when given."""
    w = (target != ignore_index).to(dtype) if ignore_index is not None else torch.ones(target.shape, dtype=dtype)
    w = w.to(target.device)
    if weight is not None:
        w = w * weight.to(dtype)
    return w


def region_probs_and_targets(
    logits: Tensor, target: Tensor, ignore_index: Optional[int], weight: Optional[Tensor]
) -> Tuple[Tensor, Tensor]:
    """Probabilities and one-hot targets flattened per sample, pixel weights applied.

    C = 1: ``sigmoid(logits)`` against ``target`` (0/1); C > 1: ``softmax(logits, 1)`` against one-hot(target)
    (official ``weighted_Dice_Loss`` / ``IoU_Loss``). Computed in float32 at least.

    Returns:
        (probs, onehot), both [B, C, H*W], each pixel multiplied by its weight (0 for ignored pixels).
    """
    b, c = logits.shape[:2]
    dtype = torch.promote_types(logits.dtype, torch.float32)
    x = logits.to(dtype)
    w = pixel_weights(target, ignore_index, weight, dtype).reshape(b, 1, -1)
    safe_target = target.long()
    if ignore_index is not None:
        safe_target = torch.where(target == ignore_index, torch.zeros_like(safe_target), safe_target)
    if c == 1:
        probs = torch.sigmoid(x)
        onehot = safe_target.unsqueeze(1).to(dtype)
    else:
        probs = torch.softmax(x, dim=1)
        onehot = F.one_hot(safe_target, num_classes=c).permute(0, 3, 1, 2).to(dtype)
    return probs.reshape(b, c, -1) * w, onehot.reshape(b, c, -1) * w


class PixelLoss(nn.Module):
    """Shared mmseg-style wrapper of the loss terms of eq. (18): ``loss_weight * _loss_fn(...)``, an
    ``ignore_index`` that ``forward`` may override, and a validated ``loss_name``.

    Subclasses set ``_loss_fn(pred, target, ignore_index, weight) -> Tensor`` and their defaults.

    Args:
        loss_weight: the term's lambda in eq. (18).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    _loss_fn = None

    def __init__(self, loss_weight: float, ignore_index: Optional[int], loss_name: str) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.ignore_index = ignore_index
        self._loss_name = validate_loss_name(type(self).__name__, loss_name)

    def _term(self, pred: Tensor, target: Tensor, ignore_index: Optional[int], weight: Optional[Tensor]) -> Tensor:
        return type(self)._loss_fn(pred, target, ignore_index, weight)

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Optional[Tensor] = None,
        ignore_index: Optional[int] = None,
    ) -> Tensor:
        """pred: logits [B, C, H, W]; target: [B, H, W] int64; weight: optional [B, H, W] -> weighted scalar."""
        ii = self.ignore_index if ignore_index is None else ignore_index
        return self.loss_weight * self._term(pred, target, ii, weight)

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, ignore_index={self.ignore_index}"


class SmoothRegionLoss(PixelLoss):
    """Shared wrapper of the smoothed region losses (Dice, soft IoU) of eq. (18).

    Subclasses set ``_loss_fn(pred, target, ignore_index, smooth, weight) -> Tensor`` and their defaults.

    Args:
        loss_weight: the term's lambda in eq. (18).
        smooth: additive smoothing s (official 1e-5).
        ignore_index: target value excluded from the loss; a value passed to ``forward`` overrides it.
        loss_name: key in the log / loss dict; must start with ``loss_``.
    """

    def __init__(self, loss_weight: float, smooth: float, ignore_index: Optional[int], loss_name: str) -> None:
        super().__init__(loss_weight, ignore_index, loss_name)
        self.smooth = float(smooth)

    def _term(self, pred: Tensor, target: Tensor, ignore_index: Optional[int], weight: Optional[Tensor]) -> Tensor:
        return type(self)._loss_fn(pred, target, ignore_index, self.smooth, weight)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, smooth={self.smooth}, ignore_index={self.ignore_index}"
