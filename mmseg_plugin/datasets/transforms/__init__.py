"""AVS pipeline transforms registered in mmseg's TRANSFORMS: LoadAVSImageFromFile, LoadAVSAnnotations,
LoadAudioWindow, PackAVSInputs, RandomChannelShuffle (colour invariance), SoundingBoxRandomCrop and
ReleaseColorJitter (the DDESeg release's training augmentation), and AblateAudio (the audio-zeroed / audio-shuffled
diagnostics)."""

from .audio_ablation import AblateAudio
from .colour import RandomChannelShuffle
from .formatting import PackAVSInputs
from .loading import LoadAudioWindow, LoadAVSAnnotations, LoadAVSImageFromFile
from .release_crop import SoundingBoxRandomCrop
from .release_jitter import ReleaseColorJitter

__all__ = [
    "AblateAudio",
    "LoadAVSAnnotations",
    "LoadAVSImageFromFile",
    "LoadAudioWindow",
    "PackAVSInputs",
    "RandomChannelShuffle",
    "ReleaseColorJitter",
    "SoundingBoxRandomCrop",
]
