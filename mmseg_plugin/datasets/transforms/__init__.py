"""AVS pipeline transforms registered in mmseg's TRANSFORMS: LoadAVSImageFromFile, LoadAVSAnnotations,
LoadAudioWindow, PackAVSInputs."""

from .formatting import PackAVSInputs
from .loading import LoadAudioWindow, LoadAVSAnnotations, LoadAVSImageFromFile

__all__ = ["LoadAVSAnnotations", "LoadAVSImageFromFile", "LoadAudioWindow", "PackAVSInputs"]
