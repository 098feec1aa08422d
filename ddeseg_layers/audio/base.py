"""Frozen-by-default behaviour shared by the audio backbones that produce F_a (paper eq. 1 input).

A frozen backbone has ``requires_grad=False`` on every parameter AND stays in eval mode when its parent calls
``.train()`` (so BatchNorm statistics, dropout/drop-path and SpecAugment never act on a frozen encoder -- the
official DDESeg code freezes HTSAT's gradients but leaves it in train mode, see docs/audio.md).
``frozen_mode="follow"`` reproduces the release on request: the frozen encoder keeps ``requires_grad=False`` but
follows its parent's ``.train()`` / ``.eval()``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["FreezableBackbone", "FROZEN_MODES"]

FROZEN_MODES = ("eval", "follow")


class FreezableBackbone(nn.Module):
    """Base for audio backbones: ``out_dim``, ``sample_rate`` attributes and a ``frozen`` switch."""

    out_dim: int
    sample_rate: int | None
    frozen: bool = False
    frozen_mode: str = "eval"

    def set_frozen_mode(self, mode: str) -> FreezableBackbone:
        """``"eval"`` (a frozen backbone is always in eval mode) or ``"follow"`` (it follows ``.train(mode)``)."""
        if mode not in FROZEN_MODES:
            raise ValueError(f"{type(self).__name__}: frozen_mode must be one of {FROZEN_MODES}, got {mode!r}")
        self.frozen_mode = mode
        return self

    def set_frozen(self, frozen: bool) -> FreezableBackbone:
        """Freeze (no gradients, always eval) or unfreeze (parameters that are trainable become trainable).

        Parameters listed in ``_always_frozen`` (fixed signal-processing kernels) stay frozen either way.
        """
        self.frozen = bool(frozen)
        fixed = set(getattr(self, "_always_frozen", ()))
        for name, p in self.named_parameters():
            p.requires_grad_(not self.frozen and not any(name.endswith(s) for s in fixed))
        return self.train(self.training)

    def train(self, mode: bool = True) -> FreezableBackbone:
        super().train(False if self.frozen and self.frozen_mode == "eval" else mode)
        return self
