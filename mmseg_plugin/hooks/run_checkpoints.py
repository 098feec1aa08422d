"""Resume support for mmengine 0.10.x on torch >= 2.6: trust only the run's own checkpoints.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; mmengine 0.10.7's checkpoints also store the message
hub (``HistoryBuffer`` objects), so ``resume`` and ``load_from`` of mmengine's own files fail with an
``UnpicklingError``. Allow-listing the classes is not enough (unpickling them needs the builtin ``getattr``, which
would defeat weights-only loading).

The fix here is scoped. ``install_run_checkpoint_loader()`` re-registers mmengine's local ``CheckpointLoader`` scheme
(prefix ``''``) with a loader that calls ``torch.load(weights_only=False)`` **only** for files inside a trusted run
directory, and ``weights_only=True`` for everything else (third-party pretrained weights stay weights-only). A
directory is trusted when

* it was registered in this process with ``trust_directory(path)`` (``tools/train.py`` does this for its
  ``work_dir``; ``DDESegRunTrustHook`` does it in ``before_run``, which mmengine calls before ``load_or_resume``,
  so ``mim train`` / ``mim test`` runs are covered too), or
* the checkpoint's own folder holds the marker file ``.ddeseg_work_dir`` that ``DDESegRunTrustHook`` writes into
  the work_dir of every run it sees (so ``mim test CONFIG --checkpoint work_dirs/run/iter_N.pth`` works from
  another work_dir).

Only put checkpoints you produced yourself in such a folder: a pickle can run code when loaded.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Union

import torch

MARKER = ".ddeseg_work_dir"
_TRUSTED: set = set()
_INSTALLED = False


def trust_directory(path: Union[str, os.PathLike]) -> str:
    """Trust checkpoints under ``path`` (a run's work_dir) for full unpickling in this process; returns its realpath."""
    real = os.path.realpath(os.fspath(path))
    _TRUSTED.add(real)
    return real


def mark_work_dir(path: Union[str, os.PathLike]) -> str:
    """Write the marker file that makes a work_dir's checkpoints trusted in later processes; returns its path."""
    os.makedirs(path, exist_ok=True)
    marker = os.path.join(os.fspath(path), MARKER)
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("checkpoints in this folder were written by a ddeseg mmengine run and are resumed unpickled\n")
    return marker


def is_trusted(filename: Union[str, os.PathLike]) -> bool:
    """Whether ``filename`` is one of the run's own checkpoints (see module docstring)."""
    real = os.path.realpath(os.fspath(filename))
    for root in _TRUSTED:
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return os.path.isfile(os.path.join(os.path.dirname(real), MARKER))


def load_local_checkpoint(filename: str, map_location: Optional[Union[str, Callable]] = None):
    """mmengine local-file loader: ``weights_only=False`` for trusted run checkpoints, True for everything else."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{filename} can not be found.")
    trusted = is_trusted(filename)
    try:
        return torch.load(filename, map_location=map_location, weights_only=not trusted)
    except Exception as exc:
        if trusted:
            raise
        raise RuntimeError(
            f"{filename} could not be read with torch.load(weights_only=True) ({exc}). Third-party weights are only "
            "read weights-only. If it is a checkpoint of your own ddeseg run, load it from that run's work_dir "
            f"(which holds the {MARKER} marker) or call mmseg_plugin.hooks.trust_directory(<its folder>)."
        ) from exc


def install_run_checkpoint_loader() -> None:
    """Register ``load_local_checkpoint`` as mmengine's local-file CheckpointLoader scheme (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes="", loader=load_local_checkpoint, force=True)
    _INSTALLED = True
