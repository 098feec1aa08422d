"""AVS pipeline transforms registered in mmseg's TRANSFORMS: LoadAVSImageFromFile, LoadAVSAnnotations,
LoadAudioWindow, PackAVSInputs, and AblateAudio (the audio-zeroed / audio-shuffled diagnostics)."""

from .audio_ablation import AblateAudio
from .formatting import PackAVSInputs
from .loading import LoadAudioWindow, LoadAVSAnnotations, LoadAVSImageFromFile

__all__ = ["AblateAudio", "LoadAVSAnnotations", "LoadAVSImageFromFile", "LoadAudioWindow", "PackAVSInputs"]
