"""Fused Triton kernels of the edge-feature aggregation (paper eqs. 5-6 / 9-10) and their host launchers.

Inputs are the projected tensors of the factorised form (torch_impl.py): P = memory @ W^T [C, R, d] and
U = query @ W^T - b [Q, d]; the d x d products stay in cuBLAS. One program per query q then fuses, tile by tile
over its J = G*R entries (BLOCK_J rows of the full, masked d): the gather P[index[q, j // R], j % R], the
subtraction, exact-erf GELU, the score s_j = w . e_j, an online softmax over j and the weighted accumulation.
Nothing of size [Q, J, d] is materialised for reduce=True; reduce=False writes its [Q, J, d] output in a second
pass over the entries once the softmax max and normaliser are known (two-pass kernel).

Backward by recomputation (one pass, given the softmax stats (max m, normaliser l) and delta = sum_j g_j . out_j):
    da_j = g_j . e_j,  ds_j = a_j (da_j - delta),  de_j = a_j g_j + ds_j w,  dpre_j = de_j * GELU'(pre_j)
    dU[q] = -sum_j dpre_j (owned by the program), dw = sum_q dw_part[q] (per-query partials, summed by torch),
    dP[c, r] += dpre_j: fp32 atomic adds, or, when ``torch.are_deterministic_algorithms_enabled()``, dpre is
    stored per edge ([Q, J, d] fp32) and reduced by a deterministic ``index_put_(accumulate=True)``.

Byte count (reduce=True, forward; s = element size): the literal path writes and re-reads [Q, J, d] several
times (diff, pre-activation, GELU, weighted edges: >= 8*Q*J*d*s bytes of HBM traffic plus 2*Q*J*d^2 flops); the
fused kernel reads the gathered rows of P once (Q*J*d*s, mostly L2 hits when C*R*d*s fits in L2) plus U and the
output (2*Q*d*s). Scores and softmax state stay in registers.

Arithmetic is float32 whatever the input dtype (float32, float16, bfloat16); outputs are cast to the input
dtype. d is limited to ``MAX_DIM`` (a query's full d-vector is a register tile); any d <= MAX_DIM and any R, G
work (masks, no padding assumptions). The kernels are compiled lazily (this module is imported on first use) so
that ``TRITON_INTERPRET=1`` can be set before it is imported; no device is queried at import.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import triton
import triton.language as tl

MAX_DIM = 4096
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _gelu_parts(x):
    """(GELU(x), Phi(x)) with the exact erf form."""
    cdf = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476))
    return x * cdf, cdf


@triton.jit
def _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK: tl.constexpr):
    """Gather BLOCK_J projected memory rows of query q: returns (pre [BJ, BD] fp32, valid [BJ], row offsets)."""
    j = j0 + offs_j
    valid = j < J
    g = j // R
    r = j - g * R
    c = tl.load(IDX + q * (J // R) + g, mask=valid, other=0)
    row = c * R + r  # int64 (index is int64)
    if HAS_MASK:
        keep = tl.load(MASK + row, mask=valid, other=0)
        valid = valid & (keep != 0)
    ptrs = P + row[:, None] * D + offs_d[None, :]
    x = tl.load(ptrs, mask=valid[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
    pre = x - u[None, :]
    return pre, valid, row, j


@triton.jit
def _edge_fwd_kernel(
    P,
    U,
    W,
    IDX,
    MASK,
    OUT,
    STATS,
    SCORES,
    J,
    R,
    D,
    HAS_MASK: tl.constexpr,
    REDUCE: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # SCORES: [Q, J] fp32 scratch (reduce=False only). The second pass reads the first pass's scores instead of
    # recomputing them: with |s| ~ 1e4 a recomputation that rounds differently (other FMA contraction) shifts
    # exp(s - m) by several ulp(s) ~ 1e-2 relative, which the GPU tests caught.
    q = tl.program_id(0).to(tl.int64)
    offs_j = tl.arange(0, BLOCK_J)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < D
    u = tl.load(U + q * D + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    w = tl.load(W + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.full([], 0.0, tl.float32)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for j0 in range(0, J, BLOCK_J):
        pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
        e, cdf = _gelu_parts(pre)
        s = tl.sum(e * w[None, :], axis=1)
        s = tl.where(valid, s, float("-inf"))
        if not REDUCE:
            tl.store(SCORES + q * J + j, s, mask=j < J)
        m_new = tl.maximum(m_i, tl.max(s, axis=0))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp(s - m_use)
        alpha = tl.exp(m_i - m_use)
        l_i = l_i * alpha + tl.sum(p, axis=0)
        if REDUCE:
            acc = acc * alpha + tl.sum(p[:, None] * e, axis=0)
        m_i = m_new
    nonempty = l_i > 0.0
    l_safe = tl.where(nonempty, l_i, 1.0)
    m_safe = tl.where(nonempty, m_i, float("inf"))
    tl.store(STATS + 2 * q, m_safe)
    tl.store(STATS + 2 * q + 1, l_safe)
    if REDUCE:
        tl.store(OUT + q * D + offs_d, (acc / l_safe).to(OUT.dtype.element_ty), mask=d_ok)
    else:
        for j0 in range(0, J, BLOCK_J):
            pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
            e, cdf = _gelu_parts(pre)
            s = tl.load(SCORES + q * J + j, mask=j < J, other=float("-inf"))
            a = tl.exp(tl.where(valid, s - m_safe, float("-inf"))) / l_safe
            optrs = OUT + (q * J + j)[:, None] * D + offs_d[None, :]
            tl.store(optrs, (a[:, None] * e).to(OUT.dtype.element_ty), mask=(j < J)[:, None] & d_ok[None, :])


@triton.jit
def _edge_bwd_kernel(
    GO,
    SCORES,
    P,
    U,
    W,
    IDX,
    MASK,
    DP,
    DU,
    DW_PART,
    J,
    R,
    D,
    HAS_MASK: tl.constexpr,
    REDUCE: tl.constexpr,
    ATOMIC: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # Self-consistent recomputation: a first pass recomputes the scores (kept in the [Q, J] fp32 scratch SCORES),
    # the softmax max/normaliser and delta = sum_j a_j (g_j . e_j) online; the second pass reads the same scores.
    # Mixing recomputed scores with the forward's statistics is off by several ulp(s) in exp(s - m), i.e. ~1e-2
    # relative for |s| ~ 1e4 (caught by the GPU tests).
    q = tl.program_id(0).to(tl.int64)
    offs_j = tl.arange(0, BLOCK_J)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < D
    u = tl.load(U + q * D + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    w = tl.load(W + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    if REDUCE:
        go = tl.load(GO + q * D + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.full([], 0.0, tl.float32)
    d_acc = tl.full([], 0.0, tl.float32)
    for j0 in range(0, J, BLOCK_J):
        pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
        e, cdf = _gelu_parts(pre)
        s = tl.sum(e * w[None, :], axis=1)
        s = tl.where(valid, s, float("-inf"))
        tl.store(SCORES + q * J + j, s, mask=j < J)
        if REDUCE:
            g = go[None, :]
        else:
            gptrs = GO + (q * J + j)[:, None] * D + offs_d[None, :]
            g = tl.load(gptrs, mask=valid[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
        da = tl.where(valid, tl.sum(g * e, axis=1), 0.0)
        m_new = tl.maximum(m_i, tl.max(s, axis=0))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp(s - m_use)
        alpha = tl.exp(m_i - m_use)
        l_i = l_i * alpha + tl.sum(p, axis=0)
        d_acc = d_acc * alpha + tl.sum(p * da, axis=0)
        m_i = m_new
    nonempty = l_i > 0.0
    l_i = tl.where(nonempty, l_i, 1.0)
    m_i = tl.where(nonempty, m_i, float("inf"))
    delta = d_acc / l_i
    du = tl.zeros([BLOCK_D], dtype=tl.float32)
    dw = tl.zeros([BLOCK_D], dtype=tl.float32)
    for j0 in range(0, J, BLOCK_J):
        pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
        e, cdf = _gelu_parts(pre)
        s = tl.load(SCORES + q * J + j, mask=j < J, other=float("-inf"))
        a = tl.exp(tl.where(valid, s - m_i, float("-inf"))) / l_i
        tile_ok = valid[:, None] & d_ok[None, :]
        if REDUCE:
            g = go[None, :]
        else:
            gptrs = GO + (q * J + j)[:, None] * D + offs_d[None, :]
            g = tl.load(gptrs, mask=tile_ok, other=0.0).to(tl.float32)
        da = tl.sum(g * e, axis=1)
        ds = a * (da - delta)
        de = a[:, None] * g + ds[:, None] * w[None, :]
        dgelu = cdf + pre * tl.exp(-0.5 * pre * pre) * 0.3989422804014327
        dpre = tl.where(tile_ok, de * dgelu, 0.0)
        du -= tl.sum(dpre, axis=0)
        dw += tl.sum(ds[:, None] * e, axis=0)
        if ATOMIC:
            tl.atomic_add(DP + row[:, None] * D + offs_d[None, :], dpre, mask=tile_ok)
        else:
            dptrs = DP + (q * J + j)[:, None] * D + offs_d[None, :]
            tl.store(dptrs, dpre, mask=(j < J)[:, None] & d_ok[None, :])
    tl.store(DU + q * D + offs_d, du.to(DU.dtype.element_ty), mask=d_ok)
    tl.store(DW_PART + q * D + offs_d, dw, mask=d_ok)


def block_sizes(J: int, D: int, backward: bool = False) -> tuple[int, int, int]:
    """(BLOCK_J, BLOCK_D, num_warps): the full d in one tile, BLOCK_J rows so a tile holds <= 8192 (fwd) or
    4096 (bwd) fp32 values."""
    block_d = max(16, triton.next_power_of_2(D))
    budget = 4096 if backward else 8192
    block_j = max(2, min(triton.next_power_of_2(max(J, 1)), budget // block_d, 64))
    num_warps = 4 if block_d <= 256 else 8
    return block_j, block_d, num_warps


def _identity(kernel):
    return kernel


def _mask_arg(entry_mask: Optional[torch.Tensor], fallback: torch.Tensor):
    if entry_mask is None:
        return fallback, False
    return entry_mask.contiguous().view(torch.uint8), True


def fused_forward(
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
    wrap: Callable = _identity,
    block_j: Optional[int] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the forward kernel. Returns (out [Q, d] or [Q, J, d] in the input dtype, stats [Q, 2] float32:
    the softmax max and normaliser, (+inf, 1) for a query with no valid entry).

    ``wrap`` is ``torch.library.wrap_triton`` inside the registered op (identity when called directly, e.g.
    from the tests under ``TRITON_INTERPRET=1``). ``block_j`` (a power of two >= 2) overrides the heuristic tile
    height, e.g. to make tests span several tiles with tiny shapes.
    """
    C, R, D = proj_memory.shape
    Q, G = index.shape
    J = G * R
    P = proj_memory.contiguous()
    U = proj_query.contiguous()
    idx = index.contiguous()
    w = score_weight.contiguous()
    mask, has_mask = _mask_arg(entry_mask, idx)
    out_shape = (Q, D) if reduce else (Q, J, D)
    out = torch.empty(out_shape, dtype=proj_query.dtype, device=proj_query.device)
    stats = torch.empty((Q, 2), dtype=torch.float32, device=proj_query.device)
    if Q == 0:
        return out, stats
    scores = torch.empty((Q, J) if not reduce else (1,), dtype=torch.float32, device=proj_query.device)
    bj, block_d, num_warps = block_sizes(J, D)
    block_j = bj if block_j is None else block_j
    wrap(_edge_fwd_kernel)[(Q,)](
        P,
        U,
        w,
        idx,
        mask,
        out,
        stats,
        scores,
        J,
        R,
        D,
        HAS_MASK=has_mask,
        REDUCE=reduce,
        BLOCK_J=block_j,
        BLOCK_D=block_d,
        num_warps=num_warps,
    )
    return out, stats


def fused_backward(
    grad_out: torch.Tensor,
    out: torch.Tensor,
    stats: torch.Tensor,
    proj_memory: torch.Tensor,
    proj_query: torch.Tensor,
    index: torch.Tensor,
    score_weight: torch.Tensor,
    entry_mask: Optional[torch.Tensor],
    reduce: bool,
    deterministic: bool = False,
    wrap: Callable = _identity,
    block_j: Optional[int] = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch the backward kernel. Returns (dP [C, R, d], dU [Q, d], dw [d]) in the input dtypes."""
    C, R, D = proj_memory.shape
    Q, G = index.shape
    J = G * R
    dev = proj_query.device
    P = proj_memory.contiguous()
    U = proj_query.contiguous()
    idx = index.contiguous()
    w = score_weight.contiguous()
    go = grad_out.contiguous()
    mask, has_mask = _mask_arg(entry_mask, idx)
    # `out` and `stats` are the op's saved tensors (the CPU kernel uses them); the Triton kernel recomputes both
    # self-consistently and only needs a [Q, J] fp32 score scratch.
    scores = torch.empty((Q, J), dtype=torch.float32, device=dev)
    du = torch.empty((Q, D), dtype=proj_query.dtype, device=dev)
    dw_part = torch.empty((Q, D), dtype=torch.float32, device=dev)
    if deterministic:
        dp_buf = torch.empty((Q * J, D), dtype=torch.float32, device=dev)
    else:
        dp_buf = torch.zeros((C * R, D), dtype=torch.float32, device=dev)
    if Q > 0:
        bj, block_d, num_warps = block_sizes(J, D, backward=True)
        block_j = bj if block_j is None else block_j
        wrap(_edge_bwd_kernel)[(Q,)](
            go,
            scores,
            P,
            U,
            w,
            idx,
            mask,
            dp_buf,
            du,
            dw_part,
            J,
            R,
            D,
            HAS_MASK=has_mask,
            REDUCE=reduce,
            ATOMIC=not deterministic,
            BLOCK_J=block_j,
            BLOCK_D=block_d,
            num_warps=num_warps,
        )
    if deterministic:
        flat = (idx[..., None] * R + torch.arange(R, device=dev)).reshape(-1)
        dp = torch.zeros((C * R, D), dtype=torch.float32, device=dev)
        dp.index_put_((flat,), dp_buf, accumulate=True)
    else:
        dp = dp_buf
    dw = dw_part.sum(0)
    return dp.reshape(C, R, D).to(proj_memory.dtype), du, dw.to(score_weight.dtype)
