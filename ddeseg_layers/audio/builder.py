"""``build_audio_backbone(cfg)``: the audio encoder that yields F_a for DDESeg (paper eq. 1 input).

Config (plain dict): ``type`` in {"vggish", "htsat", "precomputed", "logmel_cnn"}; ``frozen`` (default True: no
gradients and always eval mode; False fine-tunes); ``checkpoint`` (path or state dict, default None); type-specific
options:

* ``vggish``: ``pca`` (PCA params path/dict), ``quantize``, ``frontend`` (``VGGishLogMel`` kwargs), size options
  ``channels``, ``hidden_dim``, ``embedding_dim``, ``final_relu``; ``size="tiny"`` is shorthand for
  ``channels=(8, 16, 32, 32), hidden_dim=64, embedding_dim=32``.
* ``htsat``: ``variant`` ("paper" | "official"), ``size`` ("base" | "tiny"), ``head`` ("auto" | "load" | "drop")
  and any ``HTSAT`` constructor kwarg.
* ``precomputed``: ``dim`` (feature width; required).
* ``logmel_cnn``: the plain log-mel CNN baseline (``LogMelCNN`` kwargs: ``sample_rate``, ``n_mels``, ``channels``...);
  not a DDESeg encoder, the yardstick of stage 1 (benchmarks/bench_audio_baseline.py).

Every returned module has ``out_dim``, ``sample_rate`` (None for precomputed) and
``forward(audio) -> [B, out_dim]`` with ``audio`` a waveform ``[B, T]`` (vggish/htsat) or features ``[B, dim]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import FreezableBackbone
from .htsat import HTSATBackbone
from .logmel_cnn import LogMelCNNBackbone
from .precomputed import PrecomputedAudio
from .vggish import VGGishBackbone

__all__ = ["build_audio_backbone", "AUDIO_BACKBONES", "VGGISH_TINY"]

VGGISH_TINY = dict(channels=(8, 16, 32, 32), hidden_dim=64, embedding_dim=32)
AUDIO_BACKBONES = ("vggish", "htsat", "precomputed", "logmel_cnn")


def build_audio_backbone(cfg: Mapping) -> FreezableBackbone:
    """Build an audio backbone from a plain dict (see module docstring). Raises ValueError on bad config."""
    if not isinstance(cfg, Mapping):
        raise TypeError(f"build_audio_backbone: cfg must be a dict, got {type(cfg).__name__}")
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in AUDIO_BACKBONES:
        raise ValueError(f"build_audio_backbone: cfg['type'] must be one of {AUDIO_BACKBONES}, got {kind!r}")
    frozen = bool(cfg.pop("frozen", True))
    checkpoint = cfg.pop("checkpoint", None)
    try:
        if kind == "vggish":
            size = cfg.pop("size", "base")
            if size == "tiny":
                cfg = {**VGGISH_TINY, **cfg}
            elif size != "base":
                raise ValueError(f"vggish size must be 'base' or 'tiny', got {size!r}")
            return VGGishBackbone(frozen=frozen, checkpoint=checkpoint, **cfg)
        if kind == "htsat":
            return HTSATBackbone(frozen=frozen, checkpoint=checkpoint, **cfg)
        if kind == "logmel_cnn":
            return LogMelCNNBackbone(frozen=frozen, checkpoint=checkpoint, **cfg)
        if checkpoint is not None:
            raise ValueError("precomputed audio takes no checkpoint")
        if "dim" not in cfg:
            raise ValueError("precomputed audio needs cfg['dim'] (the cached feature width)")
        return PrecomputedAudio(frozen=frozen, **cfg)
    except TypeError as exc:  # unknown option names
        raise ValueError(f"build_audio_backbone({kind!r}): bad option in {sorted(cfg)}: {exc}") from exc
