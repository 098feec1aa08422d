"""Public entry point ``edge_aggregate`` (paper eqs. 5-6 / 9-10) and the registered ``ddeseg::`` ops.

Layering (flash-attention style): Triton kernels -> allocating launchers (triton_kernels.py) ->
``torch.library.triton_op`` ``ddeseg::edge_aggregate_fused`` / ``ddeseg::edge_aggregate_fused_backward``
(CUDA: the Triton launchers through ``wrap_triton``; CPU kernel and any non-CUDA device: the factorised PyTorch
path of torch_impl.py) -> ``register_autograd`` -> ``edge_aggregate`` (dispatch) -> DynamicDerivation.

The registered op works on the projected tensors P = memory @ W^T [C, R, d] and U = query @ W^T - b [Q, d];
the two projections are ordinary (cuBLAS) matmuls outside the op, so autograd takes the gradients of query,
memory, W and b from the op's dP and dU. The op returns (out, stats); stats [Q, 2] (softmax max and normaliser,
float32) is saved for the backward (recomputation) and is not differentiable. Double backward is not supported
by the fused backend.

Backends (dispatch.py; each carries its run function, ``edge_aggregate`` runs what ``dispatch.select`` returns):
``triton`` (CUDA, fp32/fp16/bf16, d <= 4096), ``torch`` (factorised, any device and
floating dtype: on CPU the op with its chunked, recomputing CPU kernels; elsewhere plain autograd over
``edge_aggregate_projected``), ``reference`` (literal, only on request).
``DDESEG_BACKEND=reference|torch|triton`` forces one.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Mapping, Optional

import torch
from torch.library import triton_op, wrap_triton

from .. import dispatch
from .reference import edge_aggregate_reference
from .torch_impl import (
    edge_aggregate_projected,
    project_memory,
    project_query,
    projected_backward,
    projected_forward_with_stats,
)

OP_NAME = "edge_aggregate"
TRITON_MAX_DIM = 4096  # = triton_kernels.MAX_DIM (kept here so importing this file does not import Triton)
_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _kernels():
    # imported lazily: TRITON_INTERPRET must be decided before the @triton.jit decorators run
    from . import triton_kernels

    return triton_kernels


def _use_triton(proj_query: torch.Tensor) -> bool:
    """Inside the op: Triton for CUDA tensors of a kernel dtype; the factorised path otherwise (e.g. float64)."""
    return proj_query.device.type == "cuda" and proj_query.dtype in _TRITON_DTYPES


# ---------------------------------------------------------------------------------------------------------------
# registered ops
# ---------------------------------------------------------------------------------------------------------------


@triton_op("ddeseg::edge_aggregate_fused", mutates_args=())
def edge_aggregate_fused(
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused aggregation from projected tensors -> (out [Q, d] or [Q, G*R, d], stats [Q, 2] float32)."""
    if _use_triton(proj_query):
        return _kernels().fused_forward(
            proj_memory, proj_query, index, score_weight, entry_mask, reduce, wrap=wrap_triton
        )
    return projected_forward_with_stats(proj_memory, proj_query, index, score_weight, entry_mask, reduce)


@triton_op("ddeseg::edge_aggregate_fused_backward", mutates_args=())
def edge_aggregate_fused_backward(
    grad_out: torch.Tensor,
    out: torch.Tensor,
    stats: torch.Tensor,
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backward by recomputation -> (dP [C, R, d], dU [Q, d], dw [d])."""
    if _use_triton(proj_query):
        return _kernels().fused_backward(
            grad_out,
            out,
            stats,
            proj_memory,
            proj_query,
            index,
            score_weight,
            entry_mask,
            reduce,
            deterministic=torch.are_deterministic_algorithms_enabled(),
            wrap=wrap_triton,
        )
    return projected_backward(grad_out, out, stats, proj_memory, proj_query, index, score_weight, entry_mask, reduce)


@edge_aggregate_fused.register_kernel("cpu")
def _fused_cpu(proj_memory, proj_query, index, score_weight, entry_mask, reduce):
    return projected_forward_with_stats(proj_memory, proj_query, index, score_weight, entry_mask, reduce)


@edge_aggregate_fused_backward.register_kernel("cpu")
def _fused_backward_cpu(grad_out, out, stats, proj_memory, proj_query, index, score_weight, entry_mask, reduce):
    return projected_backward(grad_out, out, stats, proj_memory, proj_query, index, score_weight, entry_mask, reduce)


def _setup_context(ctx, inputs, output):
    proj_memory, proj_query, index, score_weight, entry_mask, reduce = inputs
    out, stats = output
    ctx.save_for_backward(proj_memory, proj_query, index, score_weight, out, stats)
    ctx.entry_mask = entry_mask
    ctx.reduce = reduce
    ctx.mark_non_differentiable(stats)


def _backward(ctx, grad_out, grad_stats):
    proj_memory, proj_query, index, score_weight, out, stats = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dP, dU, dw = edge_aggregate_fused_backward(
        grad_out, out, stats, proj_memory, proj_query, index, score_weight, ctx.entry_mask, ctx.reduce
    )
    return dP, dU, None, dw, None, None


edge_aggregate_fused.register_autograd(_backward, setup_context=_setup_context)


# ---------------------------------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------------------------------


def _run_triton(query, memory, index, weight, bias, score_weight, reduce, *, memory_proj, entry_mask):
    """The fused op on CUDA (its Triton kernels)."""
    P = project_memory(memory, weight) if memory_proj is None else memory_proj
    U = project_query(query, weight, bias)
    out, _ = edge_aggregate_fused(P, U, index, score_weight, entry_mask, reduce)
    return out


def _run_torch(query, memory, index, weight, bias, score_weight, reduce, *, memory_proj, entry_mask):
    """Factorised PyTorch: on CPU the fused op (its chunked, recomputing CPU kernels), elsewhere plain autograd."""
    P = project_memory(memory, weight) if memory_proj is None else memory_proj
    U = project_query(query, weight, bias)
    if U.device.type != "cpu":
        return edge_aggregate_projected(P, U, index, score_weight, reduce, entry_mask)
    out, _ = edge_aggregate_fused(P, U, index, score_weight, entry_mask, reduce)
    return out


def _run_reference(query, memory, index, weight, bias, score_weight, reduce, *, memory_proj, entry_mask):
    """The literal eqs. 5-6 / 9-10 (``memory_proj`` is not used)."""
    return edge_aggregate_reference(query, memory, index, weight, bias, score_weight, reduce, entry_mask=entry_mask)


def _no_reasons(inputs: Mapping[str, Any]) -> list:
    return []


def _always_available() -> list:
    return []


# looked up once at import (a package lookup, not a device query): torch.compile cannot trace importlib
_TRITON_INSTALLED = importlib.util.find_spec("triton") is not None


def _triton_availability() -> list:
    reasons = []
    if not _TRITON_INSTALLED:
        reasons.append("the triton package is not installed")
    if not torch.cuda.is_available():
        reasons.append("no CUDA device (torch.cuda.is_available() is False)")
    return reasons


def _triton_reasons(inputs: Mapping[str, Any]) -> list:
    reasons = []
    query = inputs["query"]
    if not _TRITON_INSTALLED:
        reasons.append("the triton package is not installed")
    if query.device.type != "cuda":
        reasons.append(f"query is on {query.device.type}, the Triton kernels need a CUDA tensor")
    dtypes = {inputs[k].dtype for k in ("query", "memory", "weight", "bias", "score_weight")}
    if len(dtypes) != 1:
        reasons.append(f"query/memory/weight/bias/score_weight dtypes differ: {sorted(str(t) for t in dtypes)}")
    elif query.dtype not in _TRITON_DTYPES:
        reasons.append(f"dtype {query.dtype} not supported (float32, float16, bfloat16)")
    if query.shape[-1] > TRITON_MAX_DIM:
        reasons.append(f"d = {query.shape[-1]} > {TRITON_MAX_DIM} (one query's d-vector is a register tile)")
    if query.device.type == "cuda" and query.dtype == torch.bfloat16:
        major, _ = torch.cuda.get_device_capability(query.device)
        if major < 8:
            reasons.append("bfloat16 needs compute capability >= 8.0")
    return reasons


dispatch.register_backend(
    OP_NAME,
    dispatch.Backend(
        "triton",
        _triton_reasons,
        _triton_availability,
        auto=True,
        description="fused Triton forward/backward (ddeseg::edge_aggregate_fused), CUDA",
        run=_run_triton,
    ),
)
dispatch.register_backend(
    OP_NAME,
    dispatch.Backend(
        "torch",
        _no_reasons,
        _always_available,
        auto=True,
        description="factorised PyTorch (project memory once, gather), any device; "
        "on CPU chunked with a recomputing backward",
        run=_run_torch,
    ),
)
dispatch.register_backend(
    OP_NAME,
    dispatch.Backend(
        "reference",
        _no_reasons,
        _always_available,
        auto=False,
        description="literal eqs. 5-6 / 9-10 (materialises [Q, J, d] and Q*J d x d products), on request",
        run=_run_reference,
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------------------------


def _check_inputs(query, memory, index, weight, bias, score_weight, memory_proj, entry_mask) -> None:
    where = "edge_aggregate"
    if query.dim() != 2:
        raise ValueError(f"{where}: query must be [Q, d], got shape {tuple(query.shape)}")
    d = query.shape[1]
    if memory.dim() != 3 or memory.shape[2] != d:
        raise ValueError(f"{where}: memory must be [C, R, d={d}], got shape {tuple(memory.shape)}")
    C, R, _ = memory.shape
    if index.dim() != 2 or index.shape[0] != query.shape[0]:
        raise ValueError(f"{where}: index must be [Q={query.shape[0]}, G], got shape {tuple(index.shape)}")
    if index.dtype != torch.int64:
        raise TypeError(f"{where}: index must be int64, got {index.dtype}")
    if weight.shape != (d, d):
        raise ValueError(f"{where}: weight must be [d, d] = [{d}, {d}], got shape {tuple(weight.shape)}")
    if bias.shape != (d,):
        raise ValueError(f"{where}: bias must be [d] = [{d}], got shape {tuple(bias.shape)}")
    if score_weight.shape != (d,):
        raise ValueError(f"{where}: score_weight must be [d] = [{d}], got shape {tuple(score_weight.shape)}")
    if memory_proj is not None and memory_proj.shape != memory.shape:
        raise ValueError(
            f"{where}: memory_proj must have memory's shape {tuple(memory.shape)}, got {tuple(memory_proj.shape)}"
        )
    if entry_mask is not None:
        if entry_mask.shape != (C, R) or entry_mask.dtype != torch.bool:
            raise ValueError(
                f"{where}: entry_mask must be a bool tensor of shape [C, R] = [{C}, {R}], "
                f"got {entry_mask.dtype} {tuple(entry_mask.shape)}"
            )
    devices = {t.device for t in (query, memory, index, weight, bias, score_weight)}
    if len(devices) != 1:
        raise ValueError(f"{where}: all tensors must be on one device, got {sorted(str(x) for x in devices)}")
    # (a value check: skipped while torch.export traces, where the values are symbolic)
    checkable = index.device.type == "cpu" and index.numel() and not torch.compiler.is_exporting()
    if checkable and (int(index.min()) < 0 or int(index.max()) >= C):
        raise IndexError(f"{where}: index values must lie in [0, C={C}), got [{int(index.min())}, {int(index.max())}]")


def edge_aggregate(
    query: torch.Tensor,
    memory: torch.Tensor,
    index: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    score_weight: torch.Tensor,
    reduce: bool,
    *,
    backend: Optional[str] = None,
    memory_proj: Optional[torch.Tensor] = None,
    entry_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Edge-feature aggregation of DynamicDerivation (eqs. 5-6 with reduce=False, eqs. 9-10 with reduce=True).

    Semantics exactly as ``edge_aggregate_reference`` (see reference.py).

    Args:
        query: [Q, d] queries (F_a for step 2, derived tokens for step 3).
        memory: [C, R, d] memory entries (centroids[:, None] for step 2, reps for step 3).
        index: [Q, G] int64 class indices, values in [0, C).
        weight: [d, d] W_e / W_d (``nn.Linear`` layout).
        bias: [d] b_e / b_d.
        score_weight: [d] W_f1 / W_f2.
        reduce: False -> weighted edges [Q, G*R, d]; True -> their sum [Q, d].
        backend: "triton", "torch" or "reference"; None = ``DDESEG_BACKEND`` or automatic (dispatch.py).
        memory_proj: optional precomputed ``memory @ weight.T`` [C, R, d] (e.g. from ``ProjectedMemoryCache``);
            gradients then reach it instead of memory/weight's memory term. Ignored by the literal reference.
        entry_mask: optional [C, R] bool, True = valid entry; masked entries get softmax weight 0, a query with
            no valid entry yields zeros.

    Returns:
        [Q, G*R, d] (reduce=False) or [Q, d] (reduce=True), in the input dtype.
    """
    _check_inputs(query, memory, index, weight, bias, score_weight, memory_proj, entry_mask)
    inputs = {
        "query": query,
        "memory": memory,
        "index": index,
        "weight": weight,
        "bias": bias,
        "score_weight": score_weight,
        "reduce": reduce,
    }
    chosen = dispatch.select(OP_NAME, inputs, backend)
    return chosen.run(
        query, memory, index, weight, bias, score_weight, reduce, memory_proj=memory_proj, entry_mask=entry_mask
    )
