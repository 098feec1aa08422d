"""Waveform augmentations of the stage-1 audio classifier's training batches (``AVSAudioClassifier(augment=...)``).

Applied only in ``mode="loss"`` to a batch of mono waveforms ``audio [B, T]`` with multi-hot targets ``[B, C]`` and
label weights ``[B]``; every output keeps its input's shape:

* ``gain_db``: each clip scaled by a random gain, uniform in ``[-gain_db, +gain_db]`` dB.
* ``time_shift``: each clip rolled circularly by up to ``time_shift`` (fraction of T) in either direction.
* ``mixup_alpha`` / ``mixup_prob``: with probability ``mixup_prob`` a clip is mixed with another clip of the batch,
  ``x = lam * x_i + (1 - lam) * x_j`` with ``lam ~ Beta(alpha, alpha)`` folded to ``>= 0.5``; its target is the
  union ``max(y_i, y_j)`` (both sounds are audible, so both classes are present) and its weight ``w_i * w_j``
  (a mixture with an unlabelled clip has no label).

SpecAugment (time / frequency masking of the log-mel) belongs to the encoder's front end (HTS-AT's
``spec_augment``, ``time_mask_param``, ``freq_mask_param``), not here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class WaveformAugment(nn.Module):
    """Random gain, circular time shift and union-target mixup of ``[B, T]`` waveforms (see module docstring)."""

    def __init__(
        self, mixup_alpha: float = 0.0, mixup_prob: float = 1.0, time_shift: float = 0.0, gain_db: float = 0.0
    ) -> None:
        super().__init__()
        if mixup_alpha < 0 or not 0 <= mixup_prob <= 1 or not 0 <= time_shift <= 1 or gain_db < 0:
            raise ValueError(
                "WaveformAugment: need mixup_alpha >= 0, 0 <= mixup_prob <= 1, 0 <= time_shift <= 1, gain_db >= 0; "
                f"got {mixup_alpha}, {mixup_prob}, {time_shift}, {gain_db}"
            )
        self.mixup_alpha, self.mixup_prob = float(mixup_alpha), float(mixup_prob)
        self.time_shift, self.gain_db = float(time_shift), float(gain_db)

    def forward(self, audio: Tensor, targets: Tensor, weights: Tensor) -> tuple:
        if audio.dim() != 2:
            raise ValueError(f"WaveformAugment: audio must be [B, T] (mono), got shape {tuple(audio.shape)}")
        b, t = audio.shape
        x = audio
        if self.gain_db > 0:
            db = torch.empty(b, 1, device=x.device).uniform_(-self.gain_db, self.gain_db)
            x = x * torch.pow(10.0, db / 20.0).to(x.dtype)
        if self.time_shift > 0:
            max_shift = int(round(self.time_shift * t))
            shifts = torch.randint(-max_shift, max_shift + 1, (b,), device=x.device)
            idx = (torch.arange(t, device=x.device)[None, :] - shifts[:, None]) % t
            x = torch.gather(x, 1, idx)
        if self.mixup_alpha > 0 and b > 1:
            perm = torch.randperm(b, device=x.device)
            lam = torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample((b,)).to(x)
            lam = torch.maximum(lam, 1 - lam)
            mix = torch.rand(b, device=x.device) < self.mixup_prob
            lam = torch.where(mix, lam, torch.ones_like(lam))
            x = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
            targets = torch.where(mix[:, None], torch.maximum(targets, targets[perm]), targets)
            weights = torch.where(mix, weights * weights[perm], weights)
        return x, targets, weights
