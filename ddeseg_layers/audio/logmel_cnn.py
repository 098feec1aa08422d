"""A plain log-mel CNN audio tagger: the baseline that the stage-1 audio encoder is measured against.

Not part of DDESeg: it is the "plain log-mel CNN" a careful engineer would train first on the same frame labels
(benchmarks/bench_audio_baseline.py, the stage-1 report of tools/run_pipeline.py). Pipeline::

    waveform [B, T] --torchaudio MelSpectrogram (n_mels 64, power 2)--> log(mel + 1e-6) [B, 1, n_mels, frames]
      --BatchNorm2d(1) (input scaling)--> [SpecAugment masks: train mode, opt-in] --> 4 x [Conv3x3 -> BatchNorm ->
      ReLU -> Conv3x3 -> BatchNorm -> ReLU -> AvgPool 2x2] --> mean over frequency [B, C, frames/16]
      --> mean + max over time --> [LayerNorm: opt-in ``out_norm``] --> [B, C] (= out_dim)

``LogMelCNNBackbone`` wraps it with the ``FreezableBackbone`` interface of the other audio backbones (``out_dim``,
``sample_rate``, ``frozen``, the trainable network under ``.net``), so ``build_audio_backbone(dict(type=
"logmel_cnn"))`` can be the ``audio`` of ``AVSAudioClassifier`` (and even of DDESeg); ``checkpoint`` loads the
``.net`` state dict strictly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import torch
import torchaudio
from torch import nn

from .base import FreezableBackbone

__all__ = ["LogMelCNN", "LogMelCNNBackbone"]


class _ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU, then 2x2 average pooling: ``[B, Cin, F, T]`` -> ``[B, Cout, F/2, T/2]``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(2, ceil_mode=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LogMelCNN(nn.Module):
    """Log-mel front end + 4 conv blocks + global pooling: ``[B, T]`` -> ``[B, channels[-1]]``.

    Args:
        sample_rate: waveform rate (Hz).
        n_mels: mel bins (64).
        n_fft, hop_length: STFT (default: 32 ms window, 10 ms hop at ``sample_rate``).
        f_min, f_max: mel band edges (default 50 Hz .. Nyquist).
        channels: widths of the 4 conv blocks.
        freq_masks, time_masks: SpecAugment (Park et al., 2019) in train mode only: this many frequency / time masks,
            each of a uniform width in ``[0, freq_mask_param]`` mel bins / ``[0, time_mask_param]`` frames, drawn
            independently per example and set to 0 (the mean of the ``bn0``-scaled log-mel). 0 (default): off.
        out_norm: end with a ``LayerNorm(out_dim)`` (state-dict keys ``out_norm.weight`` / ``out_norm.bias``), as
            HTS-AT ends with its ``norm``: the pooled ReLU features are all >= 0 with a large common offset (a
            stage-1-trained encoder gives |F_a| ~ 25 at d = 128), which saturates the DDM's ``tanh`` (eq. 7) so that
            its K derived tokens come out nearly equal (docs/training.md, "DDM tokens collapse"). False (default):
            no norm, the layout of earlier checkpoints.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        n_fft: Optional[int] = None,
        hop_length: Optional[int] = None,
        f_min: float = 50.0,
        f_max: Optional[float] = None,
        channels: Sequence[int] = (16, 32, 64, 128),
        freq_masks: int = 0,
        freq_mask_param: int = 8,
        time_masks: int = 0,
        time_mask_param: int = 10,
        out_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"LogMelCNN: channels must list 4 block widths, got {tuple(channels)}")
        n_fft = int(n_fft or 2 ** round(torch.log2(torch.tensor(0.032 * sample_rate)).item()))
        hop_length = int(hop_length or round(0.010 * sample_rate))
        self.sample_rate, self.n_mels = int(sample_rate), int(n_mels)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, f_min=f_min, f_max=f_max, n_mels=n_mels
        )
        self.bn0 = nn.BatchNorm2d(1)
        widths = [1, *[int(c) for c in channels]]
        self.blocks = nn.Sequential(*[_ConvBlock(widths[i], widths[i + 1]) for i in range(4)])
        self.out_dim = widths[-1]
        self.out_norm = nn.LayerNorm(self.out_dim) if out_norm else None
        if min(freq_masks, time_masks, freq_mask_param, time_mask_param) < 0:
            raise ValueError("LogMelCNN: SpecAugment mask counts and widths must be >= 0")
        self.freq_masks, self.time_masks = int(freq_masks), int(time_masks)
        self.freq_mask = torchaudio.transforms.FrequencyMasking(int(freq_mask_param), iid_masks=True)
        self.time_mask = torchaudio.transforms.TimeMasking(int(time_mask_param), iid_masks=True)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> scaled log-mel ``[B, 1, n_mels, frames]``."""
        return self.bn0(torch.log(self.mel(waveform) + 1e-6).unsqueeze(1))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() != 2:
            raise ValueError(f"LogMelCNN: waveform must be [B, T] (mono), got shape {tuple(waveform.shape)}")
        x = self.log_mel(waveform)
        if self.training:
            for _ in range(self.freq_masks):
                x = self.freq_mask(x)
            for _ in range(self.time_masks):
                x = self.time_mask(x)
        x = self.blocks(x).mean(dim=2)  # [B, C, frames']
        x = x.mean(dim=2) + x.amax(dim=2)
        return x if self.out_norm is None else self.out_norm(x)


class LogMelCNNBackbone(FreezableBackbone):
    """``LogMelCNN`` as an audio backbone: waveform ``[B, T]`` at ``sample_rate`` -> ``[B, out_dim]``.

    Args:
        frozen: freeze and keep in eval mode (default True, like the other backbones).
        checkpoint: optional path / state dict of ``.net`` (as ``AVSAudioClassifier.encoder_state_dict`` writes).
        **kwargs: ``LogMelCNN`` constructor kwargs.
    """

    def __init__(
        self, frozen: bool = True, checkpoint: Optional[Union[str, os.PathLike, Mapping]] = None, **kwargs
    ) -> None:
        super().__init__()
        self.net = LogMelCNN(**kwargs)
        self.out_dim, self.sample_rate = self.net.out_dim, self.net.sample_rate
        if checkpoint is not None:
            what = "LogMelCNN state dict" if isinstance(checkpoint, Mapping) else os.fspath(checkpoint)
            state = checkpoint if isinstance(checkpoint, Mapping) else torch.load(checkpoint, weights_only=True)
            missing, unexpected = self.net.load_state_dict(dict(state), strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"{what}: missing keys {sorted(missing)[:10]}, unexpected keys {sorted(unexpected)[:10]}"
                )
        self.set_frozen(frozen)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio)
