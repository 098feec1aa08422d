"""Model-side registrations: data preprocessor, segmentor, stage-1 audio classifier.

The losses (``mmseg_plugin.models.losses``) register themselves when that subpackage is imported.
"""

from .audio_classifier import AVSAudioClassifier
from .data_preprocessor import AVSDataPreprocessor
from .segmentor import AVSSegmentor

__all__ = ["AVSAudioClassifier", "AVSDataPreprocessor", "AVSSegmentor"]
