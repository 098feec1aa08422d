"""``AVSCheckpointHook``: mmengine's ``CheckpointHook`` with crash-safe (atomic) checkpoint files.

mmengine 0.10.7's ``CheckpointHook`` writes ``iter_N.pth`` in place (``open(path, 'wb')``), rewrites the
``last_checkpoint`` pointer in place, and removes the oldest kept checkpoint *before* writing the new one. A process
killed at the wrong moment (SIGKILL, OOM killer, preemption) can therefore leave a truncated ``iter_N.pth``, an empty
``last_checkpoint`` or, with ``max_keep_ckpts=1``, a pointer to a checkpoint that was already deleted; ``resume``
then fails or, worse, loads a truncated file.

This hook keeps every other behaviour of ``CheckpointHook`` (intervals, ``save_best``, ``max_keep_ckpts``,
``keep_ckpt_ids`` in the message hub, the options) and changes the write protocol for local work dirs:

1. the checkpoint is written to ``<name>.part-<pid>`` in the same folder, flushed and ``fsync``-ed, then
   ``os.replace``-d onto ``<name>`` (atomic on POSIX): a reader sees the old file or the complete new one;
2. ``last_checkpoint`` is replaced the same way, only after step 1 succeeded;
3. outdated checkpoints are removed only after steps 1 and 2 (the pointer never names a removed file);
4. ``before_train`` removes ``*.part-*`` leftovers of a killed writer and refuses to resume from a
   ``last_checkpoint`` that names a missing file (an error naming both files instead of mmengine's bare one).

Best checkpoints (``save_best``) are written atomically too; mmengine removes the previous best before writing the new
one, so a kill between the two leaves no best file (resume does not use it; ``tools/run_pipeline.py`` then falls back
to ``last_checkpoint``). Non-local backends (``backend_args`` with a remote prefix) keep mmengine's behaviour.
"""

from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

PART_SUFFIX = ".part-"
POINTER = "last_checkpoint"


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling + fsync + ``os.replace``."""
    tmp = f"{path}{PART_SUFFIX}{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(osp.dirname(osp.abspath(path)))


def atomic_save_checkpoint(save, out_dir: str, filename: str, *args, **kwargs) -> str:
    """``save(out_dir, "<filename>.part-<pid>", ...)`` (a ``Runner.save_checkpoint``), fsync, then rename onto
    ``<out_dir>/<filename>``. Every rank calls ``save`` (mmengine writes on rank 0 only); only rank 0 renames."""
    part = f"{filename}{PART_SUFFIX}{os.getpid()}"
    save(out_dir, part, *args, **kwargs)
    final = osp.join(out_dir, filename)
    if is_main_process():
        tmp = osp.join(out_dir, part)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(out_dir)
    return final


def remove_partial_files(folder: str) -> list:
    """Delete ``*.part-*`` files (left by a writer that was killed) in ``folder``; returns their paths."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(folder), f"*{PART_SUFFIX}*")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
            removed.append(path)
    return removed


@HOOKS.register_module()
class AVSCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose files are written atomically (see module docstring). Same arguments."""

    def _is_local(self) -> bool:
        return isinstance(getattr(self, "file_backend", None), LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not (self._is_local() and is_main_process()):
            return
        for folder in {self.out_dir, runner.work_dir}:
            for path in remove_partial_files(folder):
                runner.logger.warning(f"AVSCheckpointHook: removed {path}, a checkpoint whose writer was killed")
        pointer = osp.join(runner.work_dir, POINTER)
        if getattr(runner, "_resume", False) and osp.isfile(pointer):
            with open(pointer) as f:
                target = f.read().strip()
            if target and not osp.isfile(target):
                raise FileNotFoundError(
                    f"AVSCheckpointHook: {pointer} names {target}, which does not exist; remove {pointer} to start "
                    "over or resume from an existing checkpoint with --resume PATH"
                )

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        atomic_save_checkpoint(
            runner.save_checkpoint,
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, POINTER), self.last_ckpt)
        if outdated is not None:  # only now: the pointer already names the new, complete file
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):
                self.file_backend.rmtree(old)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self._is_local():
            return super()._save_best_checkpoint(runner, metrics)
        plain = runner.save_checkpoint  # the bound method; the instance attribute below shadows it for one call
        runner.save_checkpoint = lambda out_dir, filename, *a, **k: atomic_save_checkpoint(
            plain, out_dir, filename, *a, **k
        )
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            del runner.save_checkpoint
