"""Factorised PyTorch path of the edge-feature aggregation (paper eqs. 5-6 / 9-10).

Uses ``W (x_j - q) + b = W x_j - (W q - b)``:

    P   = memory @ W^T                    [C, R, d]   once per forward (cacheable: ``ProjectedMemoryCache``)
    U   = query @ W^T - b                 [Q, d]      once per forward
    pre = P[index] - U[:, None]           [Q, J, d]   a gather and a subtraction, no d x d product per edge
    e   = GELU(pre),  s = e . w,  a = softmax_j(s),  out = a * e  or  sum_j a * e

The literal form runs Q*J d x d products (2*Q*J*d^2 flops); this one runs (C*R + Q) of them. Everything here is
plain PyTorch (any device, any floating dtype). Two forms:

* ``edge_aggregate_projected``: the expression above, differentiated by autograd (saves the [Q, J, d] edges).
* ``projected_forward_with_stats`` / ``projected_backward``: the CPU kernels of the ``ddeseg::edge_aggregate_fused``
  op (op.py) and the ``torch`` backend on CPU. They walk the queries in cache-sized chunks, return the per-query
  softmax statistics ``stats`` [Q, 2] = (max, normaliser) and recompute the edges in the backward, so the
  elementwise passes run from cache and activation memory is O(Q*d).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


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
# Kernels of the registered op on CPU (and any non-Triton device / dtype): chunked over queries, backward by
# recomputation. Each chunk's [n, J, d] working set is sized to stay in cache (``CHUNK_BYTES``), so the ~10
# elementwise passes over the edges run from cache instead of main memory, and no [Q, J, d] tensor is allocated
# for reduce=True (memory O(Q*d) plus one chunk).
# ---------------------------------------------------------------------------------------------------------------

CHUNK_BYTES = 4 << 20
"""Target size of one chunk's [n, J, d] working tensor in the chunked kernels (4 MiB: measured best of
1/2/4/8/16 MiB on the project's 2-core VM with 1 MiB L2 per core, 32 MiB L3; see docs/kernels.md)."""


def _chunk_rows(J: int, d: int, element_size: int, chunk_bytes: int) -> int:
    return max(1, chunk_bytes // max(1, J * d * element_size))


def _chunk_edges(P2, U, index, q0, q1, J, d):
    """pre-activation of queries q0:q1: P[index] - U, as a fresh [n, J, d] tensor (gather, then in-place sub)."""
    n = q1 - q0
    pre = P2.index_select(0, index[q0:q1].reshape(-1)).view(n, J, d)
    return pre.sub_(U[q0:q1, None, :])


def _chunk_scores(e, w, entry_mask, index, q0, q1):
    n, J, d = e.shape
    s = torch.mv(e.view(n * J, d), w).view(n, J)
    if entry_mask is not None:
        s = s.masked_fill(~entry_mask[index[q0:q1]].reshape(n, J), float("-inf"))
    return s


def projected_forward_with_stats(
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward accumulated in float32 (float64 for float64 inputs), cast back to the input dtype.

    Also returns the softmax statistics ``stats`` [Q, 2] (accumulation dtype): the row maximum m and the
    normaliser l = sum_j exp(s_j - m), so that a_j = exp(s_j - m) / l exactly as a max-subtracted softmax
    (a single log-sum-exp would lose |s| * eps of relative accuracy on huge scores). A query with no valid
    entry stores (m, l) = (+inf, 1), which makes every a_j = 0. Processed in chunks of queries whose
    [n, J, d] edges take about ``chunk_bytes``.
    """
    dtype = proj_query.dtype
    acc = accumulation_dtype(dtype)
    C, R, d = proj_memory.shape
    Q, G = index.shape
    J = G * R
    dev = proj_query.device
    P2 = proj_memory.to(acc).reshape(C, R * d)  # a class's R rows are one gathered row
    U = proj_query.to(acc)
    w = score_weight.to(acc)
    out = torch.empty((Q, d) if reduce else (Q, J, d), dtype=acc, device=dev)
    stats = torch.empty((Q, 2), dtype=acc, device=dev)
    step = _chunk_rows(J, d, P2.element_size(), chunk_bytes)
    for q0 in range(0, Q, step):
        q1 = min(Q, q0 + step)
        e = F.gelu(_chunk_edges(P2, U, index, q0, q1, J, d))
        s = _chunk_scores(e, w, entry_mask, index, q0, q1)
        m = s.amax(dim=1) if J else torch.full((q1 - q0,), float("-inf"), dtype=acc, device=dev)
        empty = torch.isneginf(m)
        m = torch.where(empty, torch.full_like(m, float("inf")), m)
        p = torch.exp(s - m[:, None])  # 0 for masked entries and for empty rows
        norm = torch.where(empty, torch.ones_like(m), p.sum(dim=1))
        a = p / norm[:, None]
        if reduce:
            out[q0:q1] = torch.bmm(a[:, None, :], e)[:, 0]
        else:
            torch.mul(e, a[..., None], out=out[q0:q1])
        stats[q0:q1, 0] = m
        stats[q0:q1, 1] = norm
    return out.to(dtype), stats


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
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dP, dU, dw) of ``projected_forward_with_stats``, recomputing e and the softmax weights chunk by
    chunk (the same chunks and ops as the forward, so the recomputed scores equal the forward's bit for bit).

    With g_j the output gradient of edge j (the same g for every j when reduce=True):
    da_j = g_j . e_j, delta = sum_j a_j da_j, ds_j = a_j (da_j - delta),
    de_j = a_j g_j + ds_j w, dpre_j = de_j * GELU'(pre_j); dP[index] += dpre, dU = -sum_j dpre_j,
    dw = sum_{q,j} ds_j e_j. delta is accumulated from the recomputed a and da (not from the saved, possibly
    low-precision ``out``), so it is consistent with the weights it multiplies.
    """
    del out  # delta is recomputed (see above); kept in the signature: the op saves it for the Triton kernel's API
    C, R, d = proj_memory.shape
    Q, G = index.shape
    J = G * R
    dev = proj_query.device
    acc = accumulation_dtype(proj_query.dtype)
    P2 = proj_memory.to(acc).reshape(C, R * d)
    U = proj_query.to(acc)
    w = score_weight.to(acc)
    g_all = grad_out.to(acc)
    st = stats.to(acc)
    dP = torch.zeros((C, R * d), dtype=acc, device=dev)
    dU = torch.empty((Q, d), dtype=acc, device=dev)
    dw = torch.zeros((d,), dtype=acc, device=dev)
    step = _chunk_rows(J, d, P2.element_size(), chunk_bytes)
    for q0 in range(0, Q, step):
        q1 = min(Q, q0 + step)
        n = q1 - q0
        pre = _chunk_edges(P2, U, index, q0, q1, J, d)
        e = F.gelu(pre)
        s = _chunk_scores(e, w, entry_mask, index, q0, q1)
        a = torch.exp(s - st[q0:q1, :1]) / st[q0:q1, 1:]  # [n, J]
        g = g_all[q0:q1]
        if reduce:
            da = torch.bmm(e, g[:, :, None])[..., 0]
        else:
            da = torch.linalg.vecdot(g, e)
        delta = (a * da).sum(1, keepdim=True)
        ds = a * (da - delta)
        dw.addmv_(e.view(n * J, d).t(), ds.reshape(-1))
        if reduce:  # de = a_j g + ds_j w for all j: one [n, J, 2] x [n, 2, d] product
            de = torch.bmm(torch.stack([a, ds], dim=-1), torch.stack([g, w.expand(n, d)], dim=1))
        else:
            de = (g * a[..., None]).addcmul_(ds[..., None], w)
        dpre = torch.ops.aten.gelu_backward(de, pre)
        torch.sum(dpre, dim=1, out=dU[q0:q1])
        dP.index_add_(0, index[q0:q1].reshape(-1), dpre.view(n * G, R * d))
    return (
        dP.reshape(C, R, d).to(proj_memory.dtype),
        dU.neg_().to(proj_query.dtype),
        dw.to(score_weight.dtype),
    )
