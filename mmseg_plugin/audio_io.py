"""Audio I/O for the AVS pipelines: WAV decoding, resampling, channel handling and window cutting.

No paper equation lives here; this module fixes the audio side of the data contract (contracts: "MMSeg plugin data
flow"): every frame of a clip gets the waveform window ``[audio_start, audio_end)`` seconds of its clip, at the
pipeline's target sample rate, as float32 ``[T]`` (mono) or ``[2, T]`` (stereo).

Shapes: ``read_wav`` returns ``[C, N]`` float32 numpy (C channels, N samples at the file's native rate);
``resample`` maps ``[C, N]`` at ``orig_sr`` to ``[C, N']`` at ``target_sr`` with ``torchaudio.functional.resample``
(band-limited sinc interpolation; ``N' = ceil(N * target_sr / orig_sr)``); ``cut_window`` returns ``[C, W]``.
Everything except the resampling is numpy (cheap in dataloader workers, no intra-op thread pools).

Rules (documented in docs/datasets.md and recorded per sample in ``results["audio_window"]``):

- Sample-exact boundaries: a window ``[start_s, end_s)`` covers samples ``round(start_s * sr)`` up to (excluding)
  ``round(start_s * sr) + round((end_s - start_s) * sr)`` of the (resampled) clip.
- Samples past the end of the clip are filled by ``pad_mode``:
  ``"zero"`` (zeros at the end), ``"repeat_last_second"`` (the clip's last second tiled, AVSBench's rule for clips
  shorter than 5 s), ``"tile"`` (the clip looped from its start, CAVP's rule for VPO crops).
- Channels: ``"mono"`` averages all channels; ``"stereo"`` keeps two channels (a mono file is duplicated, more than
  two channels is an error); ``"keep"`` returns what the file has.
- Corrupt, unreadable, empty or non-finite audio raises :class:`AudioReadError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as taF

__all__ = [
    "AudioReadError",
    "PAD_MODES",
    "CHANNEL_MODES",
    "read_wav",
    "resample",
    "to_channels",
    "cut_window",
    "center_window",
    "ClipCache",
    "load_window",
    "load_tensor_file",
]

PAD_MODES = ("zero", "repeat_last_second", "tile")
CHANNEL_MODES = ("mono", "stereo", "keep")


class AudioReadError(ValueError):
    """Raised when an audio file is corrupt, unreadable, empty or contains non-finite samples."""


def read_wav(path: str) -> Tuple[np.ndarray, int]:
    """Read a sound file with soundfile.

    Args:
        path: file path (any format libsndfile reads; WAV in every supported layout).

    Returns:
        ``(wave, sample_rate)`` with ``wave`` float32 ``[C, N]`` in [-1, 1] for integer PCM.

    Raises:
        FileNotFoundError: the file does not exist.
        AudioReadError: libsndfile cannot decode it, it holds no samples, or it holds NaN/Inf.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError on corrupt files
        raise AudioReadError(f"cannot decode audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioReadError(f"audio file {path} contains no samples (empty)")
    if sr <= 0:
        raise AudioReadError(f"audio file {path} has an invalid sample rate {sr}")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioReadError(f"audio file {path} contains {bad} non-finite (NaN/Inf) samples")
    return np.ascontiguousarray(data.T), int(sr)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``[C, N]`` from ``orig_sr`` to ``target_sr`` (identity when equal) with torchaudio."""
    if orig_sr == target_sr:
        return wave
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got orig_sr={orig_sr}, target_sr={target_sr}")
    out = taF.resample(torch.from_numpy(np.ascontiguousarray(wave)), orig_freq=int(orig_sr), new_freq=int(target_sr))
    return out.numpy()


def to_channels(wave: np.ndarray, mode: str, path: str = "<array>") -> np.ndarray:
    """Apply the channel rule ``mode`` (``"mono"`` | ``"stereo"`` | ``"keep"``) to ``[C, N]``.

    ``"mono"`` returns ``[1, N]`` (channel mean), ``"stereo"`` ``[2, N]`` (a mono file duplicated), ``"keep"`` as is.
    """
    if mode not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {CHANNEL_MODES}, got {mode!r}")
    if mode == "keep":
        return wave
    if mode == "mono":
        return wave.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    if wave.shape[0] == 1:
        return np.repeat(wave, 2, axis=0)
    if wave.shape[0] == 2:
        return wave
    raise AudioReadError(f"audio file {path} has {wave.shape[0]} channels; channels='stereo' needs 1 or 2")


def _extend(wave: np.ndarray, start: int, length: int, pad_mode: str, sample_rate: int) -> np.ndarray:
    """Samples ``[start, start + length)`` of ``wave`` [C, N] with indices past N filled by ``pad_mode``."""
    n = wave.shape[-1]
    if 0 <= start and start + length <= n:
        return wave[:, start : start + length].copy()
    idx = np.arange(start, start + length)
    if pad_mode == "zero":
        out = np.zeros((wave.shape[0], length), dtype=wave.dtype)
        inside = (idx >= 0) & (idx < n)
        out[:, inside] = wave[:, idx[inside]]
        return out
    if start < 0:
        raise ValueError(f"window start {start} < 0 is only supported with pad_mode='zero'")
    if pad_mode == "tile":
        return wave[:, idx % n]
    if pad_mode == "repeat_last_second":
        last = min(n, int(sample_rate))
        past = idx >= n
        src = idx.copy()
        src[past] = (n - last) + (idx[past] - n) % last
        return wave[:, src]
    raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")


def cut_window(
    wave: np.ndarray, sample_rate: int, start_s: float, end_s: float, pad_mode: str = "zero"
) -> Tuple[np.ndarray, Dict]:
    """Cut the window ``[start_s, end_s)`` seconds from ``wave`` [C, N] at ``sample_rate``.

    Returns:
        ``(window [C, W], info)``; ``info`` records start_sample, num_samples, num_padded and pad_mode.
    """
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    if not end_s > start_s:
        raise ValueError(f"audio window needs end > start, got [{start_s}, {end_s})")
    if start_s < 0:
        raise ValueError(f"audio window start must be >= 0, got {start_s}")
    start = int(round(start_s * sample_rate))
    length = int(round((end_s - start_s) * sample_rate))
    n = wave.shape[-1]
    padded = min(length, max(0, start + length - max(start, n)))
    win = _extend(wave, start, length, pad_mode, sample_rate)
    info = dict(start_sample=start, num_samples=length, clip_samples=n, num_padded=int(padded), pad_mode=pad_mode)
    return win, info


def center_window(
    wave: np.ndarray, sample_rate: int, seconds: float, pad_mode: str = "tile"
) -> Tuple[np.ndarray, Dict]:
    """The centred window of ``seconds`` (CAVP's VPO crop): start = (N - W) // 2, or 0 with padding when N < W."""
    length = int(round(seconds * sample_rate))
    if length <= 0:
        raise ValueError(f"window seconds must be > 0, got {seconds}")
    n = wave.shape[-1]
    start = max(0, (n - length) // 2)
    win = _extend(wave, start, length, pad_mode, sample_rate)
    info = dict(
        start_sample=start, num_samples=length, clip_samples=n, num_padded=max(0, length - n), pad_mode=pad_mode
    )
    return win, info


class ClipCache:
    """Small per-process LRU cache of decoded, resampled clips (so 10 frames of a clip read the WAV once).

    Keys are ``(path, target_sr, channels)``; values ``(wave [C, N] float32 array, native_sr)``. Each dataloader
    worker holds its own copy (the transform object is copied into every worker).
    """

    def __init__(self, max_clips: int = 8) -> None:
        if max_clips < 0:
            raise ValueError(f"max_clips must be >= 0, got {max_clips}")
        self.max_clips = int(max_clips)
        self._store: OrderedDict[tuple, Tuple[np.ndarray, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, path: str, target_sr: int, channels: str) -> Tuple[np.ndarray, int]:
        """Decoded clip ``[C, N]`` at ``target_sr`` after the channel rule, and the file's native rate."""
        key = (os.fspath(path), int(target_sr), channels)
        if key in self._store:
            self.hits += 1
            self._store.move_to_end(key)
            return self._store[key]
        self.misses += 1
        data, sr = read_wav(path)
        wave = np.ascontiguousarray(resample(to_channels(data, channels, path), sr, target_sr), dtype=np.float32)
        if not np.isfinite(wave).all():
            raise AudioReadError(f"audio file {path} gives non-finite samples after resampling {sr}->{target_sr}")
        value = (wave, sr)
        if self.max_clips > 0:
            self._store[key] = value
            while len(self._store) > self.max_clips:
                self._store.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._store)


def load_window(
    path: str,
    start_s: Optional[float],
    end_s: Optional[float],
    *,
    sample_rate: int,
    channels: str = "mono",
    pad_mode: str = "zero",
    window_seconds: Optional[float] = None,
    cache: Optional[ClipCache] = None,
) -> Tuple[np.ndarray, Dict]:
    """Read ``path`` and cut one window. ``start_s=None`` means the centred ``window_seconds`` crop.

    With ``start_s`` given and ``window_seconds`` set, the window is ``[start_s, start_s + window_seconds)``.
    """
    cache = cache if cache is not None else ClipCache(0)
    wave, native = cache.get(path, sample_rate, channels)
    if start_s is None:
        if window_seconds is None:
            raise ValueError(f"{path}: a centred crop (audio_start=None) needs window_seconds")
        win, info = center_window(wave, sample_rate, window_seconds, pad_mode)
        info["anchor"] = "center"
    else:
        stop = start_s + window_seconds if window_seconds is not None else end_s
        if stop is None:
            raise ValueError(f"{path}: audio_end is None and window_seconds is not set")
        win, info = cut_window(wave, sample_rate, start_s, stop, pad_mode)
        info["anchor"] = "start"
    info.update(sample_rate=int(sample_rate), native_sample_rate=int(native), channels=channels)
    return win, info


# ---------------------------------------------------------------------------------------------------- .pkl caches
_PICKLE_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "Tensor"),
    ("torch", "FloatStorage"),
    ("torch", "float32"),
    ("collections", "OrderedDict"),
}


def _storage_from_bytes(data: bytes):
    """Replacement for ``torch.storage._load_from_bytes`` that keeps ``weights_only=True``."""
    return torch.load(io.BytesIO(data), weights_only=True)


class _TensorOnlyUnpickler(pickle.Unpickler):
    """Unpickler for plain ``pickle.dump(tensor)`` files that refuses every global except tensor rebuilding."""

    def __init__(self, f, path: str) -> None:
        super().__init__(f)
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _storage_from_bytes
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"{self._path}: refusing to unpickle global {module}.{name} (only tensors are allowed in .pkl caches)"
        )


def load_tensor_file(path: str) -> torch.Tensor:
    """Load a tensor cache (AVSBench ``audio_log_mel/*.pkl``) without executing arbitrary pickled code.

    ``torch.save`` (zip) files go through ``torch.load(weights_only=True)``; plain ``pickle.dump(tensor)`` files (what
    AVSBench's preprocessing writes) through an unpickler that only allows tensor-rebuilding globals.

    Raises:
        FileNotFoundError: missing file.
        AudioReadError: unreadable, not a tensor, disallowed content, or non-finite values; names the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tensor cache not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            obj = torch.load(path, map_location="cpu", weights_only=True)
        else:
            with open(path, "rb") as f:
                obj = _TensorOnlyUnpickler(f, path).load()
    except Exception as exc:
        raise AudioReadError(f"cannot load tensor cache {path} safely (weights_only): {exc}") from exc
    if not isinstance(obj, torch.Tensor):
        raise AudioReadError(f"tensor cache {path} holds a {type(obj).__name__}, expected a torch.Tensor")
    obj = obj.detach().float()
    if obj.numel() == 0:
        raise AudioReadError(f"tensor cache {path} is empty")
    if not torch.isfinite(obj).all():
        raise AudioReadError(f"tensor cache {path} contains non-finite values")
    return obj
