"""Audio backbones that produce DDESeg's audio feature F_a (paper eq. 1): VGGish, HTS-AT, cached features.

Curated exports; see docs/audio.md for front-end constants and the checkpoints each module loads.
"""

from .base import FreezableBackbone
from .builder import AUDIO_BACKBONES, VGGISH_TINY, build_audio_backbone
from .frontends import ConvSpectrogram, ConvSTFT, LogMelFilterBank, VGGishLogMel, vggish_mel_matrix
from .htsat import HTSAT, HTSATBackbone, htsat_config, load_htsat_checkpoint
from .logmel_cnn import LogMelCNN, LogMelCNNBackbone
from .precomputed import PrecomputedAudio, load_avsbench_logmel
from .vggish import VGGish, VGGishBackbone, VGGishPCA, load_vggish_checkpoint, load_vggish_pca

__all__ = [
    "AUDIO_BACKBONES",
    "ConvSTFT",
    "ConvSpectrogram",
    "FreezableBackbone",
    "HTSAT",
    "HTSATBackbone",
    "LogMelCNN",
    "LogMelCNNBackbone",
    "LogMelFilterBank",
    "PrecomputedAudio",
    "VGGISH_TINY",
    "VGGish",
    "VGGishBackbone",
    "VGGishLogMel",
    "VGGishPCA",
    "build_audio_backbone",
    "htsat_config",
    "load_avsbench_logmel",
    "load_htsat_checkpoint",
    "load_vggish_checkpoint",
    "load_vggish_pca",
    "vggish_mel_matrix",
]
