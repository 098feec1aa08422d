"""Built-in synthetic audio-visual segmentation sets (AVSS layout), generated deterministically from a seed.

Pure numpy / PIL / soundfile. Presets (:mod:`mmseg_plugin.synthetic.presets`): ``"basic"``
(:mod:`mmseg_plugin.synthetic.generator`) and ``"hard"`` (:mod:`mmseg_plugin.synthetic.hard`); see docs/datasets.md.
CLI: ``python -m mmseg_plugin.synthetic --root data/synthetic --seed 0 [--preset hard]``.
"""

from .atomic import MANIFEST_NAME
from .generator import CLASS_SPECS, GENERATOR_VERSION, SyntheticConfig, generate_synthetic_avs
from .hard import HARD_CLASS_NAMES, HARD_GENERATOR_VERSION, HardSyntheticConfig, generate_synthetic_avs_hard
from .presets import PRESETS, generate_synthetic_set

__all__ = ["generate_synthetic_avs", "SyntheticConfig", "CLASS_SPECS", "GENERATOR_VERSION", "MANIFEST_NAME",
           "generate_synthetic_avs_hard", "HardSyntheticConfig", "HARD_CLASS_NAMES", "HARD_GENERATOR_VERSION",
           "PRESETS", "generate_synthetic_set"]  # fmt: skip
