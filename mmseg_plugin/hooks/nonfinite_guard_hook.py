"""``NonFiniteGuardHook``: stop training at the first non-finite loss or gradient, before any weight is updated.

Policy (the only one; documented in docs/training.md): training stops with ``NonFiniteTrainingError`` naming the
iteration (1-based), the offending loss term or parameter, and the batch's clips. Nothing is skipped silently and the
optimizer never steps with a NaN / inf gradient, so the weights in memory and in every checkpoint stay finite.

How, without touching the loop or the optimizer wrapper (works the same under ``MMDistributedDataParallel``):

* a forward hook on the model checks every tensor of the ``mode='loss'`` output dict as soon as the forward returns,
  i.e. before ``backward``;
* a step pre-hook on the optimizer checks every gradient at once (one reduction, one host sync per step) right
  before ``optimizer.step()`` updates the weights; the exception leaves ``step`` and the update never happens. With
  gradient accumulation it runs once per update, on the accumulated gradients.

With ``AmpOptimWrapper`` (fp16 dynamic loss scaling) scaled gradients overflow by design; the GradScaler then skips
``optimizer.step()`` itself (and lowers the scale), so the pre-hook only ever sees the gradients of steps that run.
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .iteration_log_hook import batch_clip_ids


class NonFiniteTrainingError(RuntimeError):
    """A loss term or a gradient is NaN or infinite (the weights were not updated with it)."""


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Raise ``NonFiniteTrainingError`` on a non-finite loss or gradient (module docstring).

    Args:
        check_grads: also check the gradients before every optimizer step (default True).
    """

    priority = "VERY_HIGH"

    def __init__(self, check_grads: bool = True) -> None:
        self.check_grads = check_grads
        self._handles: List[Any] = []
        self._iter = 0
        self._clips: List[str] = []

    def _where(self) -> str:
        clips = ", ".join(self._clips[:16]) + (" ..." if len(self._clips) > 16 else "")
        return f"iteration {self._iter} (batch of {len(self._clips)}: {clips})"

    def before_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        self._handles.append(model.register_forward_hook(self._check_loss))
        if self.check_grads:
            names = {id(p): n for n, p in model.named_parameters()}
            self._handles.append(runner.optim_wrapper.optimizer.register_step_pre_hook(self._grad_check(names)))

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        self._iter = runner.iter + 1
        self._clips = batch_clip_ids(data_batch)

    def _check_loss(self, module, args, output) -> None:
        if not (module.training and isinstance(output, dict)):
            return
        for key, value in output.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
                    raise NonFiniteTrainingError(
                        f"NonFiniteGuardHook: loss term {key!r} = {v.detach().flatten()[:4].tolist()} at "
                        f"{self._where()}; training stopped before backward, the weights were not updated. Likely "
                        "causes: a learning rate too high for this batch size, a corrupt input in these clips "
                        "(check it with tools/check_dataset.py), an empty or all-ignore mask with a loss that divides "
                        "by its area."
                    )

    def _grad_check(self, names: dict):
        def check(optimizer, args, kwargs) -> None:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if not grads or bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
                return
            bad = [
                names.get(id(p), "<unnamed parameter>")
                for group in optimizer.param_groups
                for p in group["params"]
                if p.grad is not None and not bool(torch.isfinite(p.grad).all())
            ]
            raise NonFiniteTrainingError(
                f"NonFiniteGuardHook: the gradient of {', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''} holds "
                f"NaN/inf at {self._where()}; training stopped before the optimizer step, the weights were not "
                "updated. Likely causes: a learning rate too high, exploding activations (try gradient clipping: "
                "optim_wrapper.clip_grad), a corrupt input."
            )

        return check

    def after_train(self, runner) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
