"""Runner hooks of the plugin and the scoped resume fix (see ``run_checkpoints``).

Importing this package installs the run-checkpoint loader (``install_run_checkpoint_loader``), so resume works
wherever ``mmseg_plugin`` is imported (``custom_imports`` in every config makes ``mim train`` do that).
"""

from .atomic_checkpoint_hook import AVSCheckpointHook, atomic_save_checkpoint, atomic_write_text
from .iteration_log_hook import AVSIterationLogHook, read_iteration_log
from .memory_check_hook import SemanticMemoryCheckHook
from .nonfinite_guard_hook import NonFiniteGuardHook, NonFiniteTrainingError
from .run_checkpoints import (
    MARKER,
    install_run_checkpoint_loader,
    is_trusted,
    load_local_checkpoint,
    mark_work_dir,
    trust_directory,
)
from .run_trust_hook import DDESegRunTrustHook
from .visualization_hook import AVSVisualizationHook

install_run_checkpoint_loader()

__all__ = [
    "AVSCheckpointHook",
    "AVSIterationLogHook",
    "AVSVisualizationHook",
    "NonFiniteGuardHook",
    "NonFiniteTrainingError",
    "atomic_save_checkpoint",
    "atomic_write_text",
    "read_iteration_log",
    "MARKER",
    "DDESegRunTrustHook",
    "SemanticMemoryCheckHook",
    "install_run_checkpoint_loader",
    "is_trusted",
    "load_local_checkpoint",
    "mark_work_dir",
    "trust_directory",
]
