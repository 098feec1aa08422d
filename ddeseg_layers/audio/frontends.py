"""Audio front ends: waveform -> log-mel features for the audio backbones that produce F_a (paper eq. 1 input).

Two recipes live here, each matching the checkpoint it feeds:

* ``VGGishLogMel`` -- the AudioSet VGGish recipe (``vggish_params.py`` / ``mel_features.py``): 16 kHz mono,
  25 ms periodic Hann window (400 samples) framed WITHOUT centre padding (``1 + floor((T - 400) / 160)`` frames,
  10 ms hop), rfft of length 512 zero-padded at the end, magnitude (not power), 64 HTK mel bands 125-7500 Hz
  whose triangles are linear on the MEL axis and whose DC row is zeroed, ``log(mel + 0.01)``, then
  non-overlapping 0.96 s examples of 96 frames. Shapes: waveform ``[T]`` -> ``[n_examples, 96, 64]``;
  ``[B, T]`` -> ``[B, n_examples, 96, 64]``.
* ``ConvSpectrogram`` + ``LogMelFilterBank`` -- the HTS-AT front end (torchlibrosa ``Spectrogram`` /
  ``LogmelFilterBank`` semantics, re-implemented): the STFT is a ``conv1d`` with stored kernels
  ``stft.conv_real.weight`` / ``stft.conv_imag.weight`` ``[n_fft//2+1, 1, n_fft]`` (periodic Hann times the DFT
  basis), reflect centre padding, power spectrogram; ``melW`` ``[n_fft//2+1, n_mels]`` is a Slaney-scale,
  Slaney-normalised filterbank (librosa's default, built here with ``torchaudio.functional.melscale_fbanks``),
  then ``10 log10(max(mel, 1e-10))``. Shapes: ``[B, T]`` -> ``[B, 1, frames, n_mels]`` with
  ``frames = 1 + T // hop``.

Interpretation notes (see docs/audio.md):

* ``torchaudio.functional.melscale_fbanks(mel_scale="htk", norm=None)`` is NOT the VGGish matrix: torchaudio
  draws each triangle linearly in Hz between mel-spaced corner frequencies, VGGish draws it linearly in mel
  between the same corners. ``VGGishLogMel(mel_impl="torchaudio")`` selects torchaudio's matrix for comparison;
  the default ``"vggish"`` builds the recipe's matrix (``vggish_mel_matrix``).
* ``torch.stft`` centres a 400-sample window inside a 512-sample frame and counts frames as
  ``1 + (T - 512) // 160``; the recipe frames 400 samples and zero-pads the FFT input at the end. Framing is
  therefore done here with ``Tensor.unfold`` + ``torch.fft.rfft(n=512)``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

__all__ = [
    "VGGishLogMel",
    "vggish_mel_matrix",
    "hertz_to_mel_htk",
    "ConvSTFT",
    "ConvSpectrogram",
    "LogMelFilterBank",
    "dft_conv_kernels",
    "slaney_mel_matrix",
]

# VGGish recipe constants (vggish_params.py)
VGGISH_SAMPLE_RATE = 16000
VGGISH_WINDOW = 400  # 25 ms at 16 kHz
VGGISH_HOP = 160  # 10 ms
VGGISH_N_FFT = 512  # next power of two above 400
VGGISH_N_MELS = 64
VGGISH_FMIN = 125.0
VGGISH_FMAX = 7500.0
VGGISH_LOG_OFFSET = 0.01
VGGISH_EXAMPLE_FRAMES = 96  # 0.96 s
VGGISH_EXAMPLE_HOP = 96


def hertz_to_mel_htk(freq: torch.Tensor) -> torch.Tensor:
    """HTK mel scale as ``mel_features.hertz_to_mel``: ``1127 * ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(freq / 700.0)


def vggish_mel_matrix(
    num_spectrogram_bins: int = VGGISH_N_FFT // 2 + 1,
    sample_rate: float = VGGISH_SAMPLE_RATE,
    num_mel_bins: int = VGGISH_N_MELS,
    lower_edge_hertz: float = VGGISH_FMIN,
    upper_edge_hertz: float = VGGISH_FMAX,
    *,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The VGGish mel matrix ``[num_spectrogram_bins, num_mel_bins]`` (``spectrogram_to_mel_matrix``).

    Spectrogram bins sit at ``linspace(0, sr / 2, num_spectrogram_bins)`` Hz; band edges are
    ``num_mel_bins + 2`` points equally spaced on the HTK mel axis between the two edge frequencies; each band is
    a triangle that is linear in mel; the DC row is set to zero.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_edge_hertz < upper_edge_hertz <= nyquist:
        raise ValueError(
            f"vggish_mel_matrix: need 0 <= lower_edge_hertz ({lower_edge_hertz}) < upper_edge_hertz "
            f"({upper_edge_hertz}) <= nyquist ({nyquist})"
        )
    bins_mel = hertz_to_mel_htk(torch.linspace(0.0, nyquist, num_spectrogram_bins, dtype=torch.float64))
    edges = torch.linspace(
        float(hertz_to_mel_htk(torch.tensor(lower_edge_hertz, dtype=torch.float64))),
        float(hertz_to_mel_htk(torch.tensor(upper_edge_hertz, dtype=torch.float64))),
        num_mel_bins + 2,
        dtype=torch.float64,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slope = (bins_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - bins_mel[:, None]) / (upper - center)
    weights = torch.clamp(torch.minimum(lower_slope, upper_slope), min=0.0)
    weights[0, :] = 0.0
    return weights.to(dtype)


class VGGishLogMel(nn.Module):
    """VGGish log-mel examples from a mono waveform at 16 kHz (feeds ``VGGish``; no learnable parameters).

    Args:
        sample_rate: input sample rate in Hz (the recipe's 16000).
        window_length: analysis window in samples (400 = 25 ms).
        hop_length: hop in samples (160 = 10 ms).
        n_fft: FFT length (512).
        n_mels: number of mel bands (64).
        fmin: lowest band edge in Hz (125).
        fmax: highest band edge in Hz (7500).
        log_offset: added before the natural log (0.01).
        example_frames: frames per example (96 = 0.96 s).
        example_hop: hop between examples in frames (96: non-overlapping).
        mel_impl: ``"vggish"`` (the recipe's mel-linear triangles, default) or ``"torchaudio"``
            (``torchaudio.functional.melscale_fbanks(mel_scale="htk", norm=None)``, Hz-linear triangles).
        pad_short: zero-pad (at the end) a waveform shorter than one example (15600 samples) instead of raising.
        device: device of the stored window and mel matrix.
        dtype: dtype of the stored window and mel matrix (computations follow the input's dtype).

    Shapes:
        ``[T]`` -> ``[n_examples, example_frames, n_mels]``; ``[B, T]`` -> ``[B, n_examples, example_frames,
        n_mels]`` with ``n_examples = 1 + (n_frames - example_frames) // example_hop`` and
        ``n_frames = 1 + (T - window_length) // hop_length``.
    """

    def __init__(
        self,
        sample_rate: int = VGGISH_SAMPLE_RATE,
        window_length: int = VGGISH_WINDOW,
        hop_length: int = VGGISH_HOP,
        n_fft: int = VGGISH_N_FFT,
        n_mels: int = VGGISH_N_MELS,
        fmin: float = VGGISH_FMIN,
        fmax: float = VGGISH_FMAX,
        log_offset: float = VGGISH_LOG_OFFSET,
        example_frames: int = VGGISH_EXAMPLE_FRAMES,
        example_hop: int = VGGISH_EXAMPLE_HOP,
        mel_impl: str = "vggish",
        pad_short: bool = False,
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if n_fft < window_length:
            raise ValueError(f"VGGishLogMel: n_fft ({n_fft}) must be >= window_length ({window_length})")
        dtype = dtype or torch.get_default_dtype()
        self.sample_rate = int(sample_rate)
        self.window_length = int(window_length)
        self.hop_length = int(hop_length)
        self.n_fft = int(n_fft)
        self.n_mels = int(n_mels)
        self.log_offset = float(log_offset)
        self.example_frames = int(example_frames)
        self.example_hop = int(example_hop)
        self.pad_short = bool(pad_short)
        n_bins = self.n_fft // 2 + 1
        if mel_impl == "vggish":
            mel = vggish_mel_matrix(n_bins, sample_rate, n_mels, fmin, fmax)
        elif mel_impl == "torchaudio":
            mel = torchaudio.functional.melscale_fbanks(
                n_bins, fmin, fmax, n_mels, sample_rate, norm=None, mel_scale="htk"
            ).double()
        else:
            raise ValueError(f"VGGishLogMel: mel_impl must be 'vggish' or 'torchaudio', got {mel_impl!r}")
        self.mel_impl = mel_impl
        window = torch.hann_window(self.window_length, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window.to(device=device, dtype=dtype), persistent=False)
        self.register_buffer("mel_matrix", mel.to(device=device, dtype=dtype), persistent=False)

    @property
    def min_samples(self) -> int:
        """Fewest samples that give one example: ``window + (example_frames - 1) * hop`` (15600 at 16 kHz)."""
        return self.window_length + (self.example_frames - 1) * self.hop_length

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Frame-level log-mel spectrogram: ``[..., T]`` -> ``[..., n_frames, n_mels]``."""
        if waveform.shape[-1] < self.window_length:
            raise ValueError(
                f"VGGishLogMel: waveform has {waveform.shape[-1]} samples, fewer than one window ({self.window_length})"
            )
        frames = waveform.unfold(-1, self.window_length, self.hop_length)  # [..., n_frames, window]
        window = self.window.to(waveform.dtype)
        spec = torch.fft.rfft(frames * window, n=self.n_fft).abs()  # [..., n_frames, n_fft//2+1]
        mel = spec @ self.mel_matrix.to(spec.dtype)
        return torch.log(mel + self.log_offset)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform ``[T]`` or ``[B, T]`` (float, in [-1, 1]) -> examples (see class docstring)."""
        if waveform.dim() not in (1, 2):
            raise ValueError(f"VGGishLogMel: waveform must be [T] or [B, T], got shape {tuple(waveform.shape)}")
        if not waveform.is_floating_point():
            raise TypeError(
                f"VGGishLogMel: waveform must be floating point in [-1, 1] (int16 / 32768), got {waveform.dtype}"
            )
        if waveform.shape[-1] < self.min_samples:
            if not self.pad_short:
                raise ValueError(
                    f"VGGishLogMel: waveform has {waveform.shape[-1]} samples; one {self.example_frames}-frame "
                    f"example needs {self.min_samples} at {self.sample_rate} Hz (pass pad_short=True to zero-pad)"
                )
            waveform = F.pad(waveform, (0, self.min_samples - waveform.shape[-1]))
        log_mel = self.log_mel(waveform)  # [..., n_frames, n_mels]
        examples = log_mel.unfold(-2, self.example_frames, self.example_hop)  # [..., n_ex, n_mels, frames]
        return examples.transpose(-1, -2).contiguous()


# ----------------------------------------------------------------------------------------------- HTS-AT front end


def dft_conv_kernels(n_fft: int, *, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv1d kernels of a windowed real DFT, ``[n_fft//2+1, 1, n_fft]`` each (real, imag).

    ``real[k, 0, n] = w[n] cos(2 pi k n / N)``, ``imag[k, 0, n] = -w[n] sin(2 pi k n / N)`` with the periodic
    Hann window ``w`` of length ``N = n_fft`` (torchlibrosa ``STFT`` with ``win_length == n_fft``).
    """
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    # reduce k*n modulo N before scaling: exact integer phases keep the kernels accurate for large N
    phase = 2.0 * math.pi * torch.remainder(k[:, None] * n[None, :], n_fft) / n_fft
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    real = (torch.cos(phase) * window)[:, None, :]
    imag = (-torch.sin(phase) * window)[:, None, :]
    return real.to(dtype), imag.to(dtype)


class ConvSTFT(nn.Module):
    """STFT as two strided ``conv1d`` (parameter names ``conv_real.weight``, ``conv_imag.weight``).

    Args:
        n_fft: FFT / window length.
        hop_length: hop in samples.
        center: reflect-pad ``n_fft // 2`` samples on both sides first.
        pad_mode: ``"reflect"`` or ``"constant"``.
        device, dtype: of the kernels.

    Shapes: ``[B, T]`` -> (real, imag) each ``[B, 1, frames, n_fft // 2 + 1]``.
    """

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 320,
        center: bool = True,
        pad_mode: str = "reflect",
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if pad_mode not in ("reflect", "constant"):
            raise ValueError(f"ConvSTFT: pad_mode must be 'reflect' or 'constant', got {pad_mode!r}")
        self.n_fft, self.hop_length, self.center, self.pad_mode = int(n_fft), int(hop_length), center, pad_mode
        out = self.n_fft // 2 + 1
        kw = dict(kernel_size=self.n_fft, stride=self.hop_length, bias=False, device=device, dtype=dtype)
        self.conv_real = nn.Conv1d(1, out, **kw)
        self.conv_imag = nn.Conv1d(1, out, **kw)
        real, imag = dft_conv_kernels(self.n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(real)
            self.conv_imag.weight.copy_(imag)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = waveform[:, None, :]
        if self.center:
            x = F.pad(x, (self.n_fft // 2, self.n_fft // 2), mode=self.pad_mode)
        real = self.conv_real(x)[:, None].transpose(2, 3)
        imag = self.conv_imag(x)[:, None].transpose(2, 3)
        return real, imag


class ConvSpectrogram(nn.Module):
    """Power spectrogram from ``ConvSTFT`` (module path ``stft.*``, like torchlibrosa ``Spectrogram``).

    Shapes: ``[B, T]`` -> ``[B, 1, frames, n_fft // 2 + 1]``, ``frames = 1 + T // hop`` when centred.
    """

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 320,
        center: bool = True,
        pad_mode: str = "reflect",
        power: float = 2.0,
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        self.power = float(power)
        self.stft = ConvSTFT(n_fft, hop_length, center, pad_mode, device=device, dtype=dtype)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft(waveform)
        spec = real**2 + imag**2
        return spec if self.power == 2.0 else spec ** (self.power / 2.0)


def slaney_mel_matrix(
    sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """librosa's default mel filterbank (Slaney scale, Slaney area normalisation), ``[n_fft//2+1, n_mels]``.

    Built with ``torchaudio.functional.melscale_fbanks(norm="slaney", mel_scale="slaney")``.
    """
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ValueError(
            f"slaney_mel_matrix: need 0 <= fmin ({fmin}) < fmax ({fmax}) <= sample_rate / 2 ({sample_rate / 2})"
        )
    fb = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, float(fmin), float(fmax), int(n_mels), int(sample_rate), norm="slaney", mel_scale="slaney"
    )
    return fb.to(dtype)


class LogMelFilterBank(nn.Module):
    """Mel projection with a stored matrix ``melW`` ``[n_freq, n_mels]`` and power-to-dB (ref 1, amin 1e-10).

    Args:
        sample_rate, n_fft, n_mels, fmin, fmax: define the default ``melW`` (``slaney_mel_matrix``); a loaded
            checkpoint overwrites it.
        amin: floor before the log.
        top_db: optional dynamic-range clamp (HTS-AT uses None).
        device, dtype: of ``melW``.

    Shapes: ``[..., n_freq]`` -> ``[..., n_mels]``.
    """

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 1024,
        n_mels: int = 64,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        amin: float = 1e-10,
        top_db: Optional[float] = None,
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        self.amin, self.top_db = float(amin), top_db
        mel = slaney_mel_matrix(sample_rate, n_fft, n_mels, fmin, fmax, dtype=dtype or torch.get_default_dtype())
        self.melW = nn.Parameter(mel.to(device))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        mel = spec @ self.melW
        log_spec = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))
        if self.top_db is not None:
            log_spec = torch.maximum(log_spec, log_spec.amax() - float(self.top_db))
        return log_spec
