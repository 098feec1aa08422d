"""Built-in synthetic sets by preset name: ``"basic"`` (:mod:`.generator`, the README's main job) and ``"hard"``
(:mod:`.hard`, the independent harder set).

No paper equation. :func:`generate_synthetic_set` is the one entry point used by the dataset class
(``AVSSyntheticDataset(preset=...)``), tools/train.py and the CLI.
"""

from __future__ import annotations

from typing import Callable, Dict

from .generator import generate_synthetic_avs
from .hard import generate_synthetic_avs_hard

__all__ = ["PRESETS", "generate_synthetic_set"]

PRESETS: Dict[str, Callable[..., dict]] = {"basic": generate_synthetic_avs, "hard": generate_synthetic_avs_hard}


def generate_synthetic_set(root: str, preset: str = "basic", seed: int = 0, overwrite: bool = False, **params) -> dict:
    """Generate (if absent) the synthetic set of ``preset`` under ``root`` and return its manifest.

    ``params`` are the preset's generator parameters (:class:`.SyntheticConfig` or :class:`.HardSyntheticConfig`
    fields). Raises ``ValueError`` for an unknown preset or parameter.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
    try:
        return PRESETS[preset](root, seed=seed, overwrite=overwrite, **params)
    except TypeError as e:  # an unknown keyword reaches the config dataclass
        raise ValueError(f"synthetic preset {preset!r}: bad generator parameters {sorted(params)}: {e}") from e
