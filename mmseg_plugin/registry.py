"""Import every submodule that registers something with MMSegmentation's registries.

Submodules are listed explicitly; a failing import is an error (no silent allow-failed imports).
"""

import importlib

_MODULES = (
    "mmseg_plugin.datasets",  # AV datasets and transforms
    "mmseg_plugin.models",  # data preprocessor, segmentor, audio classifier
    "mmseg_plugin.models.losses",  # AVSDiceLoss, AVSBCELoss, AVSCrossEntropyLoss, AVSIoULoss
    "mmseg_plugin.evaluation",  # AVSMetric, AVSMaskWriter
    "mmseg_plugin.hooks",  # memory check, run-checkpoint trust, AVS visualization, atomic checkpoints, guards
    "mmseg_plugin.engine",  # AVSIterBasedTrainLoop (per-iteration seeding: exact resume)
)

for _m in _MODULES:
    importlib.import_module(_m)

# mmengine 0.10.7 cannot resume its own checkpoints under torch >= 2.6 (weights-only unpickling): trust only the
# run's own work_dir checkpoints (see mmseg_plugin/hooks/run_checkpoints.py). Active for `mim train/test` too.
from mmseg_plugin.hooks.run_checkpoints import install_run_checkpoint_loader  # noqa: E402

install_run_checkpoint_loader()
