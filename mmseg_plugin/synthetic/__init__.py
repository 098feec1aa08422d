"""Built-in synthetic audio-visual segmentation set (AVSS layout), generated deterministically from a seed.

Pure numpy / PIL / soundfile; see :mod:`mmseg_plugin.synthetic.generator` and docs/datasets.md.
CLI: ``python -m mmseg_plugin.synthetic --root data/synthetic --seed 0``.
"""

from .generator import CLASS_SPECS, GENERATOR_VERSION, MANIFEST_NAME, SyntheticConfig, generate_synthetic_avs

__all__ = ["generate_synthetic_avs", "SyntheticConfig", "CLASS_SPECS", "GENERATOR_VERSION", "MANIFEST_NAME"]
