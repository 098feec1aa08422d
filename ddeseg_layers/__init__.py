"""ddeseg_layers: the DDESeg (CVPR 2025) audio-visual segmentation layers in plain PyTorch.

Never imports mmengine / mmcv / mmseg. Public names are resolved lazily (importing the package is cheap and
does not pull in timm or torchaudio until a name that needs them is used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

# public name -> submodule that defines it (curated, explicit re-export list)
_EXPORTS = {
    "SemanticMemory": "memory",
    "DynamicDerivation": "derivation",
    "DynamicElimination": "elimination",
    "AudioQueryFusionBlock": "fusion",
    "OfficialAVAligner": "fusion",
    "edge_aggregate": "ops.edge_aggregation",
    "build_audio_backbone": "audio",
    "VGGish": "audio",
    "VGGishLogMel": "audio",
    "VGGishPCA": "audio",
    "HTSAT": "audio",
    "PrecomputedAudio": "audio",
    "load_htsat_checkpoint": "audio",
    "DDESeg": "model",
    "DDESegConfig": "model",
    "build_ddeseg": "model",
    "SegFormerHead": "head",
    "MiTFusionEncoder": "encoder",
    "MiTGeometry": "encoder",
    "PVTFusionEncoder": "pvt",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ddeseg_layers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .derivation import DynamicDerivation  # noqa: F401
    from .elimination import DynamicElimination  # noqa: F401
    from .fusion import AudioQueryFusionBlock, OfficialAVAligner  # noqa: F401
    from .memory import SemanticMemory  # noqa: F401
    from .ops.edge_aggregation import edge_aggregate  # noqa: F401
