"""AVS pipeline transforms registered in mmseg's TRANSFORMS: LoadAVSAnnotations, LoadAudioWindow, PackAVSInputs."""

from .formatting import PackAVSInputs
from .loading import LoadAudioWindow, LoadAVSAnnotations

__all__ = ["LoadAVSAnnotations", "LoadAudioWindow", "PackAVSInputs"]
