"""Distributed runs on machines without CUDA: the gloo process group mmengine cannot start there, its timeout, its
teardown after a run, and the rank's error for torchrun."""

from __future__ import annotations

import contextlib
import os
import sys


def dist_timeout(cfg):
    """``env_cfg.dist_cfg.timeout`` (seconds, mmengine's key) as a timedelta, or None when the config sets none."""
    import datetime

    timeout = (cfg.get("env_cfg", None) or {}).get("dist_cfg", {}).get("timeout", None)
    if timeout is None:
        return None
    if float(timeout) <= 0:
        raise ValueError(f"env_cfg.dist_cfg.timeout must be > 0 seconds, got {timeout!r}")
    return datetime.timedelta(seconds=float(timeout))


def init_cpu_process_group(cfg) -> None:
    """mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` unconditionally; on a machine
    without CUDA, start the gloo process group here (the Runner then finds it initialised and skips its own).

    The group's timeout is ``env_cfg.dist_cfg.timeout`` (seconds; mmengine passes the same key to its own
    ``init_process_group``) when the config sets it, else torch's default (30 min for gloo): a rank blocked in a
    collective whose peer died then raises after it, also under launchers that do not stop the other ranks."""
    import torch
    import torch.distributed as dist

    if cfg.get("launcher", "none") == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        timeout = dist_timeout(cfg)
        dist.init_process_group(backend="gloo", **({} if timeout is None else dict(timeout=timeout)))


def record_rank_failure(exc: BaseException) -> None:
    """Under torchrun, write ``exc`` to this rank's ``TORCHELASTIC_ERROR_FILE`` (what torch.distributed.elastic's
    ``@record`` does), so the launcher's failure summary names the rank, the exception and its message instead of
    ``error_file: <N/A>``. No-op outside torchrun."""
    if not os.environ.get("TORCHELASTIC_ERROR_FILE"):
        return
    try:
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        ErrorHandler().record_exception(exc)
    except Exception as rec_exc:  # never hide the run's own error behind a reporting failure
        print(f"train.py: could not record the error for the launcher: {rec_exc}", file=sys.stderr)


@contextlib.contextmanager
def process_group(cfg):
    """Start the process group where mmengine cannot (see ``init_cpu_process_group``) and tear it down after a run.

    mmengine never calls ``destroy_process_group``. A gloo group still alive at interpreter finalisation can abort the
    process (SIGABRT, "terminate called without an active exception") after a run that finished correctly: its
    worker threads still hold work objects whose tensors need the GIL while the interpreter is torn down (pytorch
    issue 190489, the abandoned atexit fix in PR 179291). After a successful run the ranks meet at a barrier, so
    none tears down while another is still in a collective, and destroy the group. After an error nothing is torn
    down: the barrier would wait for the failed rank, and destroying while peers are in a collective can deadlock
    (torchtitan PR 1342); the error is recorded for torchrun (``record_rank_failure``) and propagates, and the
    launcher stops the other ranks (torchrun's agent terminates them as soon as one rank exits non-zero; under a
    launcher that does not, the peers' next collective fails when the failed rank's connections close, or at the
    latest after ``env_cfg.dist_cfg.timeout``).
    """
    import torch.distributed as dist

    init_cpu_process_group(cfg)
    try:
        yield
    except Exception as exc:
        record_rank_failure(exc)
        raise
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
