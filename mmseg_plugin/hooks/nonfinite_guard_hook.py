"""``NonFiniteGuardHook``: stop training at the first non-finite loss or gradient, before any weight is updated.

Policy (the only one; documented in docs/training.md): training stops with ``NonFiniteTrainingError`` naming the
iteration (1-based), the offending loss term or parameter, and the batch's clips. Nothing is skipped silently and the
optimizer never steps with a NaN / inf gradient, so the weights in memory and in every checkpoint stay finite.

How, without touching the loop or the optimizer wrapper (works the same under ``MMDistributedDataParallel``):

* a forward hook on the model checks every tensor of the ``mode='loss'`` output dict as soon as the forward returns,
  i.e. before ``backward``;
* a ``register_post_accumulate_grad_hook`` on every trainable parameter checks its gradient as soon as backward has
  accumulated it, i.e. before ``optimizer.step()``; the exception leaves ``backward`` and the step never runs.

With ``AmpOptimWrapper`` (fp16 dynamic loss scaling) scaled gradients overflow by design and the GradScaler skips
those steps and lowers the scale; the gradient check is then off (the loss check stays on) and the log says so.
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
        check_grads: also check every trainable parameter's gradient (default True; off under fp16 AMP).
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
        amp = type(runner.optim_wrapper).__name__ == "AmpOptimWrapper"
        if self.check_grads and amp:
            runner.logger.info("NonFiniteGuardHook: fp16 AMP: the GradScaler skips overflowing steps; grads unchecked")
        if self.check_grads and not amp:
            for name, p in model.named_parameters():
                if p.requires_grad:
                    self._handles.append(p.register_post_accumulate_grad_hook(self._grad_check(name)))

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

    def _grad_check(self, name: str):
        def check(param: torch.Tensor) -> None:
            g = param.grad
            if g is not None and not bool(torch.isfinite(g).all()):
                raise NonFiniteTrainingError(
                    f"NonFiniteGuardHook: the gradient of {name} holds NaN/inf at {self._where()}; training stopped "
                    "before the optimizer step, the weights were not updated. Likely causes: a learning rate too "
                    "high, exploding activations (try gradient clipping: optim_wrapper.clip_grad), a corrupt input."
                )

        return check

    def after_train(self, runner) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
