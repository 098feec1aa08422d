"""Cached audio features as F_a (paper eq. 1 input) and the AVSBench log-mel ``.pkl`` reader.

``PrecomputedAudio`` passes cached per-second features ``[B, dim]`` through after validating them (rank, width,
finiteness). ``load_avsbench_logmel`` reads AVSBench's ``audio_log_mel/<split>/<category>/<name>.pkl`` caches
(a torch-saved tensor ``[5, 1, 96, 64]``: five VGGish log-mel examples, one per second) SAFELY, with
``torch.load(weights_only=True)``; a pickle that is not a torch-saved tensor is refused with an explanation
instead of being unpickled (arbitrary pickles can run code).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import torch

from ..checkpoint import read_weights_only
from ..host_sync import values_readable
from .base import FreezableBackbone

__all__ = ["PrecomputedAudio", "load_avsbench_logmel"]


class PrecomputedAudio(FreezableBackbone):
    """Identity backbone over cached features.

    Args:
        dim: expected feature width (``out_dim``), e.g. 128 (VGGish) or 768 (HTS-AT).
        frozen: accepted for a uniform builder interface (there is nothing to train).

    Shapes: ``[B, dim]`` -> ``[B, dim]`` (a float copy-free view of the input).
    """

    def __init__(self, dim: int, frozen: bool = True) -> None:
        super().__init__()
        if int(dim) <= 0:
            raise ValueError(f"PrecomputedAudio: dim must be positive, got {dim}")
        self.out_dim = int(dim)
        self.sample_rate = None
        self.set_frozen(frozen)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(audio) or audio.dim() != 2 or audio.shape[1] != self.out_dim:
            shape = tuple(audio.shape) if torch.is_tensor(audio) else type(audio).__name__
            raise ValueError(f"PrecomputedAudio: expected cached features [B, {self.out_dim}], got {shape}")
        if not audio.is_floating_point():
            raise TypeError(f"PrecomputedAudio: features must be floating point, got {audio.dtype}")
        # a data-dependent check: eager only (not under torch.compile, CUDA graph capture or on meta; host_sync.py)
        if values_readable(audio) and not torch.isfinite(audio).all():
            raise ValueError("PrecomputedAudio: cached features contain NaN or inf")
        return audio


def load_avsbench_logmel(
    path: str | os.PathLike, expected_shape: Optional[Sequence[int]] = (5, 1, 96, 64)
) -> torch.Tensor:
    """Read an AVSBench ``.pkl`` log-mel cache (``torch.save``-d tensor) without unpickling arbitrary objects.

    Args:
        path: the ``.pkl`` file.
        expected_shape: required shape (``None`` to accept any); AVSBench S4/MS3 caches are ``[5, 1, 96, 64]``.

    Returns:
        float32 tensor of log-mel examples (feed ``VGGish`` after ``.flatten(0, 0)`` per clip).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a torch-saved tensor readable with ``weights_only=True`` (e.g. a plain
            pickle of a numpy array or a custom object), has the wrong shape, or holds NaN/inf.
    """
    path = os.fspath(path)
    obj = read_weights_only(
        path,
        what="AVSBench log-mel cache",
        hint="AVSBench caches are torch.save()-d tensors; this file is something else (a plain pickle or a custom "
        "object). Pickles can execute code, so it is not unpickled here: regenerate it from the wav with "
        "VGGishLogMel, or, if you trust its origin, convert it once to a tensor with torch.save().",
    )
    if not torch.is_tensor(obj):
        raise ValueError(f"{path}: expected a tensor, found {type(obj).__name__}")
    obj = obj.float()
    if expected_shape is not None and tuple(obj.shape) != tuple(expected_shape):
        raise ValueError(f"{path}: log-mel cache has shape {tuple(obj.shape)}, expected {tuple(expected_shape)}")
    if not torch.isfinite(obj).all():
        raise ValueError(f"{path}: log-mel cache contains NaN or inf")
    return obj
