"""Backend dispatch for the fused ops (xformers-style).

Each op registers an ordered list of :class:`Backend` objects. A backend answers
``not_supported_reasons(inputs) -> list[str]`` for a concrete call (empty list = it can run) and
``availability() -> list[str]`` for the machine as a whole (used by :func:`report`), and carries the function that
runs the op (``run``), so the op calls what :func:`select` returns and never decides again by name. Selection,
per call:

1. ``backend=`` passed by the caller, else the environment variable ``DDESEG_BACKEND`` (read at call time), else
2. the first backend marked ``auto`` with no reasons (for edge_aggregate: triton, then torch; the literal
   reference is only used on request).

A requested backend that cannot run raises :class:`BackendNotSupportedError` listing why; when no automatic
backend fits, the error lists every backend and its reasons. Nothing here queries a device at import time.
``report()`` feeds ``python -m ddeseg_layers.info``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

ENV_VAR = "DDESEG_BACKEND"

# modules that register backends (imported by report())
_OP_MODULES = ("ddeseg_layers.ops.edge_aggregation.op",)


class BackendNotSupportedError(RuntimeError):
    """A backend (requested or automatic) cannot run the given inputs; the message lists the reasons."""


@dataclass(frozen=True)
class Backend:
    """One implementation of an op.

    Attributes:
        name: short name used by ``backend=`` and ``DDESEG_BACKEND`` (e.g. "reference", "torch", "triton").
        not_supported_reasons: inputs mapping -> reasons this backend cannot run them (empty = supported).
        availability: () -> reasons the backend cannot run on this machine at all (empty = available).
        auto: whether automatic selection may pick it.
        description: one line for the report.
        run: the implementation, called with the op's own arguments (``None`` only for backends that are never
            run, e.g. in tests of the selection).
    """

    name: str
    not_supported_reasons: Callable[[Mapping[str, Any]], list]
    availability: Callable[[], list]
    auto: bool = True
    description: str = ""
    run: Optional[Callable[..., Any]] = None


_REGISTRY: dict = {}


def register_backend(op: str, backend: Backend) -> None:
    """Append ``backend`` to ``op``'s list (replacing a backend of the same name)."""
    backends = _REGISTRY.setdefault(op, [])
    backends[:] = [b for b in backends if b.name != backend.name]
    backends.append(backend)


def backends(op: str) -> list:
    """The registered backends of ``op`` in priority order."""
    if op not in _REGISTRY:
        raise KeyError(f"ddeseg_layers.ops.dispatch: no backends registered for op {op!r}")
    return list(_REGISTRY[op])


def requested_backend(explicit: Optional[str] = None) -> tuple:
    """(name, source) of the requested backend: the ``backend=`` argument, else ``DDESEG_BACKEND``, else None."""
    if explicit is not None:
        return explicit, "backend= argument"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env, f"environment variable {ENV_VAR}"
    return None, None


def select(op: str, inputs: Mapping[str, Any], requested: Optional[str] = None) -> Backend:
    """Pick the backend for one call (see the module docstring)."""
    candidates = backends(op)
    name, source = requested_backend(requested)
    if name is not None:
        by_name = {b.name: b for b in candidates}
        if name not in by_name:
            raise ValueError(f"{op}: unknown backend {name!r} (from {source}); choose one of {sorted(by_name)}")
        backend = by_name[name]
        reasons = backend.not_supported_reasons(inputs)
        if reasons:
            raise BackendNotSupportedError(
                f"{op}: backend {name!r} (requested by {source}) cannot run these inputs: " + "; ".join(reasons)
            )
        return backend
    refused = []
    for backend in candidates:
        if not backend.auto:
            continue
        reasons = backend.not_supported_reasons(inputs)
        if not reasons:
            return backend
        refused.append(f"  {backend.name}: " + "; ".join(reasons))
    raise BackendNotSupportedError(f"{op}: no backend can run these inputs:\n" + "\n".join(refused))


def report() -> list:
    """One dict per (op, backend): ``op``, ``backend``, ``available`` (bool), ``reasons`` (list of str),
    ``auto`` (bool), ``description``; plus the current ``DDESEG_BACKEND`` value under ``forced``."""
    for module in _OP_MODULES:
        importlib.import_module(module)
    forced = os.environ.get(ENV_VAR, "").strip() or None
    rows = []
    for op, op_backends in _REGISTRY.items():
        for b in op_backends:
            reasons = list(b.availability())
            rows.append(
                {
                    "op": op,
                    "backend": b.name,
                    "available": not reasons,
                    "reasons": reasons,
                    "auto": b.auto,
                    "description": b.description,
                    "forced": forced,
                }
            )
    return rows
