"""``StageProgressHook``: one progress bar per mmengine run on the terminal (stderr).

No paper equation. Training shows a bar over ``max_iters`` (iteration-based loops) or ``max_epochs`` x iterations
(validation inside training adds none); stand-alone validation and test runs show a bar over their batches.
tools/run_pipeline.py adds it to the runner configs it builds (not with ``--verbose``), together with this module in
``custom_imports`` so that the dumped configs build again; it only draws, it changes nothing the run computes.
"""

from __future__ import annotations

from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .quiet import progress

__all__ = ["StageProgressHook"]


@HOOKS.register_module()
class StageProgressHook(Hook):
    """Progress bars for train / val / test loops (see the module docstring)."""

    priority = "VERY_LOW"

    def __init__(self, desc: str = "train") -> None:
        self.desc = desc
        self._bar = None
        self._eval_bar = None

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        total: Optional[int] = getattr(loop, "max_iters", None)
        self._bar = progress(total=total, desc=self.desc, unit="iter", initial=runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def after_train(self, runner) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _start_eval(self, runner, loop, what: str) -> None:
        if self._bar is not None:  # validation inside training: the training bar stays the only one (no nesting)
            return
        try:
            total = len(loop.dataloader)
        except Exception:
            total = None
        desc = self.desc if what in self.desc else f"{self.desc}: {what}"
        self._eval_bar = progress(total=total, desc=desc, unit="batch", leave=what == "test")

    def before_val_epoch(self, runner) -> None:
        self._start_eval(runner, runner.val_loop, "val")

    def before_test_epoch(self, runner) -> None:
        self._start_eval(runner, runner.test_loop, "test")

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._eval_bar is not None:
            self._eval_bar.update(1)

    after_test_iter = after_val_iter

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._eval_bar is not None:
            self._eval_bar.close()
            self._eval_bar = None

    after_test_epoch = after_val_epoch
