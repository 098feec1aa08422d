"""Former home of the semantic-memory builder, now ``mmseg_plugin.apis.memory_builder`` (re-exported here for the
modules and documents that name this path)."""

from .apis.memory_builder import *  # noqa: F401,F403
from .apis.memory_builder import DEFAULTS, build_memory_dataset, single_source_label, test_pipeline  # noqa: F401
from .apis.scope import ensure_mmseg_scope  # noqa: F401
