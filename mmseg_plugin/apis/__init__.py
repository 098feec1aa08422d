"""High-level APIs of the plugin: ``DDESegInferencer`` (any video in, masks out), overlay drawing, class timeline;
the submodules ``inference``, ``memory_builder``, ``pipeline``, ``config_helpers``, ``distributed``, ``scope`` and
``export`` hold what the command lines in tools/ run (import them by name).

Importing this package does not import PyAV; only video files need it (the ``[video]`` extra).
"""

from .inferencer import DDESegInferencer, resolve_model
from .overlay import draw_overlay
from .timeline import Timeline

__all__ = ["DDESegInferencer", "Timeline", "draw_overlay", "resolve_model"]
