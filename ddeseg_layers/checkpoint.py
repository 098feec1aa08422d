"""Safe, strict checkpoint loading shared by every part of ddeseg_layers.

* ``read_weights_only`` is the one place that reads a torch-saved file: ``torch.load(map_location="cpu",
  weights_only=True)``, with errors that name the file (checkpoints, saved memories, precomputed-feature caches).
* ``load_checkpoint_file`` reads a checkpoint through it and unwraps the usual containers (``state_dict``,
  ``model``, ``module``).
* ``load_state_dict_strict`` loads into a module and, on any mismatch, raises ``CheckpointMismatchError``
  listing the missing, unexpected and shape-mismatched keys. Nothing is ever loaded with a silent
  ``strict=False``: callers that deliberately skip keys say which ones with ``ignore``/``allow_missing``
  patterns, and those keys are reported back.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


class CheckpointMismatchError(RuntimeError):
    """A state dict does not fit a module: lists missing / unexpected / shape-mismatched keys."""


@dataclass
class LoadReport:
    loaded: list = field(default_factory=list)
    missing_allowed: list = field(default_factory=list)
    ignored: list = field(default_factory=list)


def _fmt(keys: Iterable[str], limit: int = 20) -> str:
    keys = list(keys)
    head = ", ".join(keys[:limit])
    return head + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _match(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def read_weights_only(path: str | os.PathLike, *, what: str = "checkpoint", hint: str = "") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: the one reader of torch-saved files.

    Pickles can execute code, so nothing in ddeseg reads a torch file any other way (a trusted run's own
    checkpoints are mmengine's business, see ``mmseg_plugin.hooks.run_checkpoints``).

    Args:
        path: the file.
        what: what the file is, for the messages (``"checkpoint"``, ``"SemanticMemory file"``, ...).
        hint: appended to the unreadable-file message (how to fix it).

    Raises:
        FileNotFoundError: ``"{what} not found: {path}"``.
        ValueError: ``"cannot read {what} {path} with torch.load(weights_only=True) (...)"`` plus ``hint``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        msg = f"cannot read {what} {path} with torch.load(weights_only=True) ({type(exc).__name__}: {exc})."
        raise ValueError(f"{msg} {hint}" if hint else msg) from exc


def load_checkpoint_file(path: str | os.PathLike, *, unwrap: Iterable[str] = ("state_dict", "model", "module")):
    """Read a checkpoint safely (``weights_only=True``) and unwrap nested state-dict containers.

    Raises FileNotFoundError / ValueError naming the file on any problem.
    """
    path = os.fspath(path)
    obj = read_weights_only(
        path,
        what="checkpoint file",
        hint="Third-party weights are only ever read weights-only; convert the file to a plain state dict.",
    )
    for key in unwrap:
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise ValueError(f"checkpoint {path} does not hold a state dict (got {type(obj).__name__})")
    return dict(obj)


def load_state_dict_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    what: str = "checkpoint",
    ignore: Iterable[str] = (),
    allow_missing: Iterable[str] = (),
) -> LoadReport:
    """Load ``state_dict`` into ``module`` strictly.

    Args:
        module: destination module.
        state_dict: source tensors (already key-mapped to ``module``'s names).
        what: a name for the source used in error messages (e.g. the file path).
        ignore: fnmatch patterns of source keys to drop on purpose (e.g. ``head.*``); reported back.
        allow_missing: fnmatch patterns of module keys that may stay at their initial values
            (e.g. a new classifier); reported back.

    Raises:
        CheckpointMismatchError listing every missing, unexpected and shape-mismatched key.
    """
    ignore, allow_missing = tuple(ignore), tuple(allow_missing)
    own = module.state_dict()
    report = LoadReport()
    src = {}
    for k, v in state_dict.items():
        if _match(k, ignore):
            report.ignored.append(k)
        else:
            src[k] = v
    unexpected = sorted(k for k in src if k not in own)
    missing_all = sorted(k for k in own if k not in src)
    missing = [k for k in missing_all if not _match(k, allow_missing)]
    report.missing_allowed = [k for k in missing_all if _match(k, allow_missing)]
    shape = sorted(
        f"{k}: checkpoint {tuple(src[k].shape)} vs model {tuple(own[k].shape)}"
        for k in src
        if k in own and tuple(src[k].shape) != tuple(own[k].shape)
    )
    if unexpected or missing or shape:
        parts = [f"{what} does not match {type(module).__name__}:"]
        if missing:
            parts.append(f"  missing keys ({len(missing)}): {_fmt(missing)}")
        if unexpected:
            parts.append(f"  unexpected keys ({len(unexpected)}): {_fmt(unexpected)}")
        if shape:
            parts.append(f"  shape mismatches ({len(shape)}): {_fmt(shape)}")
        raise CheckpointMismatchError("\n".join(parts))
    for k, v in src.items():
        if not torch.is_tensor(v):
            raise CheckpointMismatchError(f"{what}: value of {k} is {type(v).__name__}, not a tensor")
        if not torch.isfinite(v).all() and v.is_floating_point():
            raise CheckpointMismatchError(f"{what}: tensor {k} contains NaN or inf")
    module.load_state_dict(src, strict=False)  # completeness was checked above, with explicit exceptions
    report.loaded = sorted(src)
    return report
