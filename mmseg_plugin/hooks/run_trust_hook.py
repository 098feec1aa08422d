"""``DDESegRunTrustHook``: marks the run's work_dir as trusted before mmengine resumes or loads a checkpoint.

mmengine calls ``before_run`` before ``load_or_resume`` (train, val and test), so registering the work_dir there
lets ``resume=True`` read the run's own checkpoints (see ``run_checkpoints``). Rank 0 also writes the
``.ddeseg_work_dir`` marker so later processes (``mim test ... --checkpoint``) trust the same folder.
"""

from __future__ import annotations

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .run_checkpoints import install_run_checkpoint_loader, mark_work_dir, trust_directory


@HOOKS.register_module()
class DDESegRunTrustHook(Hook):
    """Trust (and mark) ``runner.work_dir`` for resuming the run's own checkpoints."""

    priority = "VERY_HIGH"

    def before_run(self, runner) -> None:
        install_run_checkpoint_loader()
        trust_directory(runner.work_dir)
        if is_main_process():
            mark_work_dir(runner.work_dir)
