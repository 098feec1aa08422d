"""Shared fixtures of the edge-aggregation tests.

Interpreter suite: ``TRITON_INTERPRET=1 pytest -m interpreter tests/ddeseg_layers/ops`` runs the Triton launchers
on CPU tensors. Triton decides interpreter-or-compiled when ``triton.language`` is first imported, so the variable
must be set before that; as a convenience, selecting the ``interpreter`` marker sets it here (pytest_configure)
when this directory is named on the command line (this conftest is then loaded before any test module, and it
imports nothing Triton-related at module level). A test that finds the kernels compiled rather than interpreted
fails with that explanation. ``pytest -m gpu`` runs the same launcher tests on a CUDA device for real.
"""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest
import torch

# NOTE: nothing that imports Triton (ddeseg_layers.ops imports triton via torch.library.triton_op) may be imported
# at module level here: Triton reads TRITON_INTERPRET when triton.language is first imported.

_INTERPRETER_SELECTED = re.compile(r"(?<!not )\binterpreter\b")


def pytest_configure(config):
    expr = config.getoption("markexpr", default="") or ""
    if _INTERPRETER_SELECTED.search(expr):
        os.environ["TRITON_INTERPRET"] = "1"


# absolute tolerance floor per dtype (added to 2 x the same-dtype PyTorch error)
ATOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-10}

NAMES = ("query", "memory", "weight", "bias", "score_weight")


def make_case(
    Q: int,
    C: int,
    R: int,
    G: int,
    d: int,
    *,
    seed: int = 0,
    score_scale: float = 1.0,
    with_mask: bool = False,
) -> dict:
    """float64 CPU inputs of one call (index distinct per query when C >= G)."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    case = {
        "query": torch.randn(Q, d, generator=gen, dtype=f64),
        "memory": torch.randn(C, R, d, generator=gen, dtype=f64),
        "weight": torch.randn(d, d, generator=gen, dtype=f64) / d**0.5,
        "bias": 0.1 * torch.randn(d, generator=gen, dtype=f64),
        "score_weight": score_scale * torch.randn(d, generator=gen, dtype=f64) / d**0.5,
    }
    if C >= G:
        case["index"] = torch.stack([torch.randperm(C, generator=gen)[:G] for _ in range(Q)])
    else:
        case["index"] = torch.randint(0, C, (Q, G), generator=gen)
    case["entry_mask"] = (torch.rand(C, R, generator=gen) > 0.35) if with_mask else None
    return case


def cast_case(case: dict, dtype: torch.dtype, device: str, requires_grad: bool = True) -> dict:
    out = dict(case)
    for k in NAMES:
        out[k] = case[k].to(device=device, dtype=dtype).detach().requires_grad_(requires_grad)
    out["index"] = case["index"].to(device)
    if case["entry_mask"] is not None:
        out["entry_mask"] = case["entry_mask"].to(device)
    return out


def run_with_grads(fn, case: dict, reduce: bool, grad_seed: int = 1):
    """out, {name: grad} for a fixed random output gradient (float64 generated, cast to the output dtype)."""
    out = fn(
        case["query"],
        case["memory"],
        case["index"],
        case["weight"],
        case["bias"],
        case["score_weight"],
        reduce,
        entry_mask=case["entry_mask"],
    )
    gen = torch.Generator().manual_seed(grad_seed)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(device=out.device, dtype=out.dtype)
    grads = torch.autograd.grad(out, [case[k] for k in NAMES], g, allow_unused=True)
    grads = {k: (torch.zeros_like(case[k]) if v is None else v) for k, v in zip(NAMES, grads)}
    return out, grads


def reference_f64(case: dict, reduce: bool):
    """The float64 CPU literal reference with its gradients (the oracle)."""
    from ddeseg_layers.ops.edge_aggregation.reference import edge_aggregate_reference

    return run_with_grads(edge_aggregate_reference, cast_case(case, torch.float64, "cpu"), reduce)


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().cpu().double() - b.detach().cpu().double()).abs().max().item() if a.numel() else 0.0


def assert_graded(impl, base, oracle, dtype: torch.dtype, what: str, atol_scale: float = 1.0) -> None:
    """|impl - oracle| <= 2 |base - oracle| + atol, elementwise max (flash-attention's fair grading).

    ``impl`` / ``base`` are (out, grads) of the implementation under test and of the same-dtype literal
    reference; ``oracle`` the float64 reference.
    """
    atol = ATOL[dtype] * atol_scale
    pairs = [("out", impl[0], base[0], oracle[0])] + [(k, impl[1][k], base[1][k], oracle[1][k]) for k in NAMES]
    for name, x, y, ref in pairs:
        scale = max(1.0, ref.abs().max().item())
        e_impl, e_base = max_err(x, ref), max_err(y, ref)
        assert torch.isfinite(x).all(), f"{what}: {name} has non-finite values"
        assert e_impl <= 2 * e_base + atol * scale, (
            f"{what}: {name} error {e_impl:.3e} > 2 x {dtype} reference error {e_base:.3e} + {atol * scale:.1e}"
        )


@pytest.fixture
def eh():
    """The helpers above as one namespace (test modules cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(
        make_case=make_case,
        cast_case=cast_case,
        run_with_grads=run_with_grads,
        reference_f64=reference_f64,
        max_err=max_err,
        assert_graded=assert_graded,
        ATOL=ATOL,
        NAMES=NAMES,
    )


@pytest.fixture
def device_ok():
    """Fails (does not skip) a CUDA-parametrised test selected on a machine without CUDA."""

    def check(device: str) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            pytest.fail("test selected with -m gpu but torch.cuda.is_available() is False")

    return check
