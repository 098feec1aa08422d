"""AVS datasets and transforms registered in mmseg's DATASETS / TRANSFORMS (names project-prefixed).

Datasets: AVSSemanticDataset (AVSS official layout), AVSObjectS4Dataset, AVSObjectMS3Dataset, VPODataset,
DDESegOfficialAVSSDataset (metadata_w_silent.csv re-layout), AVSSyntheticDataset. Transforms:
LoadAVSImageFromFile, LoadAVSAnnotations, LoadAudioWindow, PackAVSInputs. Layouts and rules: docs/datasets.md.
"""

from .avsbench_object import AVSObjectMS3Dataset, AVSObjectS4Dataset
from .avss import AVSSemanticDataset
from .base import AVSBaseDataset
from .ddeseg_official import DDESegOfficialAVSSDataset
from .layout_checks import LayoutError
from .palette import LabelDecodeError, voc_palette
from .synthetic import AVSSyntheticDataset
from .transforms import LoadAudioWindow, LoadAVSAnnotations, LoadAVSImageFromFile, PackAVSInputs
from .vpo import VPODataset

__all__ = [
    "AVSBaseDataset",
    "AVSSemanticDataset",
    "AVSObjectS4Dataset",
    "AVSObjectMS3Dataset",
    "VPODataset",
    "DDESegOfficialAVSSDataset",
    "AVSSyntheticDataset",
    "LoadAVSAnnotations",
    "LoadAVSImageFromFile",
    "LoadAudioWindow",
    "PackAVSInputs",
    "LayoutError",
    "LabelDecodeError",
    "voc_palette",
]
