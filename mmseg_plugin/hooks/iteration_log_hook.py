"""``AVSIterationLogHook``: one JSON line per finished training iteration, consistent across kills and resumes.

mmengine's text log starts a new timestamped folder per process, and a run killed after its last checkpoint repeats,
after resuming, the iterations it had done since: the logs of a crashed-and-resumed run have repeats (and the
iterations of the killed process are not part of the final weights). This hook keeps
``<work_dir>/train_iterations.jsonl`` with exactly the iterations that the current weights went through:

* after every training iteration: ``{"iter": i, "loss": ..., "<loss terms>": ..., "lr": ..., "clips": [...]}``
  (1-based ``iter``; ``clips`` are the batch's clip ids, or its image paths where a dataset has no clip id), written
  and flushed at once;
* in ``before_train``, after mmengine has loaded the checkpoint it resumes from (``runner.iter`` = C), the file is
  rewritten (temporary file + rename) to keep only the lines with ``iter <= C``, in order; a half-written last line
  of a killed process is dropped. Lines beyond C were trained by a process whose weights were lost.

So after any sequence of kills and resumes, the file lists iterations 1..N once each, in order; a gap or a repeat
means the weights did not go through the iterations it claims. ``read_iteration_log`` reads it back.
"""

from __future__ import annotations

import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .atomic_checkpoint_hook import atomic_write_text

LOG_NAME = "train_iterations.jsonl"


def read_iteration_log(path: str) -> List[Dict[str, Any]]:
    """The complete JSON lines of an iteration log (a truncated last line is skipped)."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # written by a process killed mid-line
            out.append(json.loads(line))
    return out


def batch_clip_ids(data_batch: Optional[dict]) -> List[str]:
    """Clip ids (``clip_id`` metainfo, else ``img_path``) of the samples of a training batch."""
    samples = (data_batch or {}).get("data_samples", []) if isinstance(data_batch, dict) else []
    ids = []
    for s in samples:
        meta = getattr(s, "metainfo", {}) or {}
        clip = meta.get("clip_id")
        ids.append(f"{clip}/{meta.get('frame_index')}" if clip is not None else str(meta.get("img_path", "?")))
    return ids


@HOOKS.register_module()
class AVSIterationLogHook(Hook):
    """Write ``<work_dir>/train_iterations.jsonl`` (module docstring). Rank 0 only."""

    priority = "LOW"

    def __init__(self, filename: str = LOG_NAME) -> None:
        self.filename = filename
        self._file = None

    def _path(self, runner) -> str:
        return osp.join(runner.work_dir, self.filename)

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        path = self._path(runner)
        kept = [r for r in read_iteration_log(path) if int(r["iter"]) <= runner.iter] if osp.isfile(path) else []
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
        self._file = open(path, "a")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._file is None:
            return
        rec: Dict[str, Any] = {"iter": runner.iter + 1}
        for k, v in (outputs or {}).items():
            try:
                rec[k] = float(v)
            except (TypeError, ValueError):
                continue
        try:
            rec["lr"] = float(runner.optim_wrapper.get_lr()["lr"][0])
        except (AttributeError, KeyError, IndexError, TypeError):
            pass
        rec["clips"] = batch_clip_ids(data_batch)
        self._file.write(json.dumps(rec) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def after_run(self, runner) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
