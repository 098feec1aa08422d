"""Factorised PyTorch path of the edge-feature aggregation (paper eqs. 5-6 / 9-10).

Uses ``W (x_j - q) + b = W x_j - (W q - b)``:

    P   = memory @ W^T                    [C, R, d]   once per forward (cacheable: ``ProjectedMemoryCache``)
    U   = query @ W^T - b                 [Q, d]      once per forward
    pre = P[index] - U[:, None]           [Q, J, d]   a gather and a subtraction, no d x d product per edge
    e   = GELU(pre),  s = e . w,  a = softmax_j(s),  out = a * e  or  sum_j a * e

The literal form runs Q*J d x d products (2*Q*J*d^2 flops); this one runs (C*R + Q) of them. Everything here is
plain PyTorch (any device, any floating dtype); autograd differentiates it natively. The ``projected_*``
functions are also the CPU kernels of the ``ddeseg::edge_aggregate_fused`` op (op.py), which additionally returns
the per-query softmax statistics ``stats`` [Q, 2] = (max, normaliser) that its backward uses to recompute the
softmax weights.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16 / bfloat16 / float32, float64 for float64."""
    return torch.promote_types(dtype, torch.float32)


def project_memory(memory: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """P = memory @ W^T: [C, R, d] x [d, d] -> [C, R, d]."""
    return memory @ weight.t()


def project_query(query: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """U = query @ W^T - b: [Q, d] -> [Q, d] (so that pre-activation = P[index] - U)."""
    return query @ weight.t() - bias


def _gather(proj_memory: torch.Tensor, index: torch.Tensor, entry_mask: Optional[torch.Tensor]):
    Q, G = index.shape
    _, R, d = proj_memory.shape
    x = proj_memory[index].reshape(Q, G * R, d)
    valid = None if entry_mask is None else entry_mask[index].reshape(Q, G * R)
    return x, valid


def _masked_scores(s: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    if valid is None:
        return s
    any_valid = valid.any(dim=1, keepdim=True)
    return s.masked_fill(~valid, float("-inf")).masked_fill(~any_valid, 0.0)


def edge_aggregate_projected(
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    reduce: bool,
    entry_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Aggregation from the projected tensors (differentiable with plain autograd).

    Args:
        proj_memory: P [C, R, d] = memory @ W^T.
        proj_query: U [Q, d] = query @ W^T - b.
        index: [Q, G] int64 class indices.
        score_weight: w [d].
        reduce: False -> [Q, G*R, d]; True -> [Q, d].
        entry_mask: optional [C, R] bool (True = valid).
    """
    x, valid = _gather(proj_memory, index, entry_mask)
    e = F.gelu(x - proj_query[:, None, :])  # [Q, J, d]
    s = _masked_scores(e @ score_weight, valid)  # [Q, J]
    a = torch.softmax(s, dim=1)
    if valid is not None:
        a = a * valid
    if reduce:
        return torch.einsum("qj,qjd->qd", a, e)
    return a[..., None] * e


def edge_aggregate_torch(
    query: torch.Tensor,
    memory: torch.Tensor,
    index: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    score_weight: torch.Tensor,
    reduce: bool,
    *,
    memory_proj: Optional[torch.Tensor] = None,
    entry_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Factorised eqs. 5-6 / 9-10 with the signature of ``edge_aggregate_reference``.

    ``memory_proj`` (optional) must equal ``memory @ weight.T``; when given, the memory is not projected again
    (gradients then reach ``memory_proj`` instead of ``memory``).
    """
    P = project_memory(memory, weight) if memory_proj is None else memory_proj
    U = project_query(query, weight, bias)
    return edge_aggregate_projected(P, U, index, score_weight, reduce, entry_mask)


# ---------------------------------------------------------------------------------------------------------------
# CPU kernels of the registered op: forward returning the softmax stats, backward by recomputation (Triton's formulas)
# ---------------------------------------------------------------------------------------------------------------


def projected_forward_with_stats(
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward accumulated in float32 (float64 for float64 inputs), cast back to the input dtype.

    Also returns the softmax statistics ``stats`` [Q, 2] (accumulation dtype): the row maximum m and the
    normaliser l = sum_j exp(s_j - m), so that a_j = exp(s_j - m) / l exactly as a max-subtracted softmax
    (a single log-sum-exp would lose |s| * eps of relative accuracy on huge scores). A query with no valid
    entry stores (m, l) = (+inf, 1), which makes every a_j = 0.
    """
    dtype = proj_query.dtype
    acc = accumulation_dtype(dtype)
    x, valid = _gather(proj_memory.to(acc), index, entry_mask)
    e = F.gelu(x - proj_query.to(acc)[:, None, :])
    s = e @ score_weight.to(acc)
    if valid is not None:
        s = s.masked_fill(~valid, float("-inf"))
    m = s.amax(dim=1) if s.shape[1] else torch.full(s.shape[:1], float("-inf"), dtype=acc, device=s.device)
    empty = torch.isneginf(m)
    m = torch.where(empty, torch.full_like(m, float("inf")), m)
    p = torch.exp(s - m[:, None])  # 0 for masked entries and for empty rows
    norm = torch.where(empty, torch.ones_like(m), p.sum(dim=1))
    a = p / norm[:, None]
    out = torch.einsum("qj,qjd->qd", a, e) if reduce else a[..., None] * e
    return out.to(dtype), torch.stack([m, norm], dim=1)


def projected_backward(
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
    """Gradients (dP, dU, dw) of ``projected_forward_with_stats``, recomputing e and the softmax weights.

    With g_j the output gradient of edge j (the same g for every j when reduce=True):
    da_j = g_j . e_j, delta = sum_j a_j da_j = sum_j g_j . out_j, ds_j = a_j (da_j - delta),
    de_j = a_j g_j + ds_j w, dpre_j = de_j * GELU'(pre_j); dP[index] += dpre, dU = -sum_j dpre_j,
    dw = sum_{q,j} ds_j e_j.
    """
    C, R, d = proj_memory.shape
    Q, G = index.shape
    acc = accumulation_dtype(proj_query.dtype)
    x, valid = _gather(proj_memory.to(acc), index, entry_mask)
    pre = x - proj_query.to(acc)[:, None, :]
    cdf = 0.5 * (1.0 + torch.erf(pre * (1.0 / math.sqrt(2.0))))
    e = pre * cdf
    w = score_weight.to(acc)
    s = e @ w
    if valid is not None:
        s = s.masked_fill(~valid, float("-inf"))
    stats = stats.to(acc)
    a = torch.exp(s - stats[:, :1]) / stats[:, 1:]  # [Q, J]
    g = grad_out.to(acc)
    if reduce:
        delta = (g * out.to(acc)).sum(-1)  # [Q]
        da = torch.einsum("qd,qjd->qj", g, e)
        de = a[..., None] * g[:, None, :]
    else:
        delta = (g * out.to(acc)).sum((-1, -2))
        da = (g * e).sum(-1)
        de = a[..., None] * g
    ds = a * (da - delta[:, None])
    de = de + ds[..., None] * w
    dpre = de * (cdf + pre * torch.exp(-0.5 * pre * pre) * _INV_SQRT_2PI)
    dP = torch.zeros(C * R, d, dtype=acc, device=proj_memory.device)
    flat = (index[..., None] * R + torch.arange(R, device=index.device)).reshape(-1)
    dP.index_add_(0, flat, dpre.reshape(Q * G * R, d))
    dU = -dpre.sum(1)
    dw = torch.einsum("qj,qjd->d", ds, e)
    return (
        dP.reshape(C, R, d).to(proj_memory.dtype),
        dU.to(proj_query.dtype),
        dw.to(score_weight.dtype),
    )
