"""The optimiser and learning-rate schedule shared by the recipe's plain-PyTorch pre-training loops.

No paper equation. Stage "visual" (:mod:`mmseg_plugin.visual_stage`) and stage "audio_pretrain"
(:mod:`mmseg_plugin.audio_pretrain`) train over in-memory arrays without mmengine's Runner; both use AdamW without
weight decay on norms and biases (parameters with ``ndim <= 1``) and a linear warm-up followed by a cosine decay to
5 % of the base learning rate.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

__all__ = ["adamw_no_decay_on_norms", "warmup_cosine_factor"]


def adamw_no_decay_on_norms(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float):
    """AdamW with ``weight_decay`` on matrices / kernels (``ndim > 1``) and none on norms and biases."""
    params = list(params)
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return torch.optim.AdamW(
        [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)], lr=lr
    )


def warmup_cosine_factor(it: int, iters: int, warmup_iters: int, floor: float = 0.05) -> float:
    """Learning-rate factor of iteration ``it`` (0-based): ``(it + 1) / warmup_iters`` during the warm-up, then a
    cosine from 1 down to ``floor`` at iteration ``iters``."""
    if it < warmup_iters:
        return (it + 1) / warmup_iters
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (it - warmup_iters) / max(1, iters - warmup_iters)))
