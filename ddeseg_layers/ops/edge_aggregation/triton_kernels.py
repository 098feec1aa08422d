"""Fused Triton kernels of the edge-feature aggregation (paper eqs. 5-6 / 9-10) and their host launchers.

Inputs are the projected tensors of the factorised form (torch_impl.py): P = memory @ W^T [C, R, d] and
U = query @ W^T - b [Q, d]; the d x d products stay in cuBLAS. The kernels fuse, tile by tile over a query's
J = G*R entries (BLOCK_J rows of the full, masked d): the gather P[index[q, j // R], j % R], the subtraction,
exact-erf GELU, the score s_j = w . e_j, an online softmax over j and the weighted accumulation. Nothing of size
[Q, J, d] is materialised for reduce=True.

Split J (flash-decoding style): the grid is (Q, NSPLIT); program (q, sp) owns a contiguous run of SPLIT_LEN
entries (a multiple of BLOCK_J) and keeps a partial softmax state (max m_s, normaliser l_s, accumulator acc_s).
With few queries and long J (step 3 with many reps: Q = N*K = 250, J = R = 1024) one program per query would
leave most SMs idle; ``split_plan`` picks NSPLIT so that about ``TARGET_PROGRAMS`` programs run. Forward:
``_fwd_partial_kernel`` (Q, NSPLIT) -> ``_fwd_combine_kernel`` (Q,) merges m = max m_s, l = sum l_s e^(m_s - m),
out = sum acc_s e^(m_s - m) / l; reduce=False stores the scores in a [Q, J] fp32 scratch during the partial pass
and ``_fwd_write_kernel`` (Q, NSPLIT) writes a_j e_j from them.

Backward by recomputation, two passes on the (Q, NSPLIT) grid. ``_bwd_stats_kernel`` recomputes the scores
(stored), the partial (m_s, l_s) and d_s = sum_j e^(s_j - m_s) (g_j . e_j); ``_bwd_grad_kernel`` merges its
query's partials into (m, l, delta = sum_j a_j g_j . e_j) and computes
    a_j = e^(s_j - m) / l,  ds_j = a_j (g_j . e_j - delta),  de_j = a_j g_j + ds_j w,  dpre_j = de_j * GELU'(pre_j)
    dU[q] = -sum_j dpre_j and dw = sum_j ds_j e_j as per-(query, split) partials summed by torch,
    dP[c, r] += dpre_j: fp32 atomic adds, or, when ``torch.are_deterministic_algorithms_enabled()``, dpre is
    stored per edge ([Q, J, d] fp32) and reduced by a deterministic ``index_put_(accumulate=True)``.
The backward recomputes its own softmax state rather than reusing the forward's: weights and delta must come from
the very scores they multiply (one ulp of a score of 1e4 moves e^(s - m) by ~1e-2 relative).

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

import os
from typing import Callable, Optional

import torch
import triton
import triton.language as tl

MAX_DIM = 4096
TARGET_PROGRAMS = 1024
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


# Under TRITON_INTERPRET=1 (numpy) libdevice is unavailable: the two helpers below then use plain '/' and tl.exp.
_FAST_MATH: tl.constexpr = tl.constexpr(os.environ.get("TRITON_INTERPRET") != "1")


@triton.jit
def _recip(y):
    """1 / y: ``__fdividef`` on the GPU (<= 2 ulp for the arguments here, y in [1, inf)), '/' in the interpreter."""
    if _FAST_MATH:
        r = tl.extra.cuda.libdevice.fast_dividef(1.0, y)
    else:
        r = 1.0 / y
    return r


@triton.jit
def _exp_ftz(x):
    """exp(x) for the GELU terms: ``__expf`` (ex2.approx.ftz of x log2 e) on the GPU - the same approximation
    tl.exp uses, without its fix-up of subnormal results (3 instructions), which flushes exp(x) < 1.2e-38 to 0
    (Phi(x) for x < -13, where GELU(x) < 1e-37); tl.exp in the interpreter."""
    if _FAST_MATH:
        r = tl.extra.cuda.libdevice.fast_expf(x)
    else:
        r = tl.exp(x)
    return r


@triton.jit
def _gelu_parts(x):
    """(GELU(x), Phi(x)) = (x Phi(x), Phi(x)), Phi the standard normal CDF = erfc(-x / sqrt 2) / 2 (exact-erf GELU).

    erfc is evaluated branch-free with the Chebyshev-fitted form erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2)
    (Numerical Recipes' erfcc, fractional error < 1.2e-7 for every z >= 0, tails included). In float32, Phi and
    GELU stay within a few ulp times their condition number (tails included, where 0.5 * (1 + erf) cancels) - the
    accuracy class of libdevice's erff - at ~20 instructions where erff's branches cost ~30 plus register moves
    (docs/kernels.md: 33.8 vs 44.8 SASS instructions per element in the forward loop). Checked against float64 on
    a dense grid of [-15, 15] by test_kernel_gelu_matches_float64_erf.
    """
    z = tl.abs(x) * 0.7071067811865476
    t = _recip(1.0 + 0.5 * z)
    p = -0.82215223 + t * 0.17087277
    p = 1.48851587 + t * p
    p = -1.13520398 + t * p
    p = 0.27886807 + t * p
    p = -0.18628806 + t * p
    p = 0.09678418 + t * p
    p = 0.37409196 + t * p
    p = 1.00002368 + t * p
    p = -1.26551223 + t * p
    tail = 0.5 * t * _exp_ftz(p - z * z)  # Phi(-|x|) = erfc(|x| / sqrt 2) / 2
    cdf = tl.where(x >= 0, 1.0 - tail, tail)
    return x * cdf, cdf


@triton.jit
def _gelu_kernel(X, Y, CDF, N, BLOCK: tl.constexpr):
    """Elementwise (GELU(x), Phi(x)) with the kernels' own formula (fp32): lets tests check it on the device."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < N
    y, cdf = _gelu_parts(tl.load(X + offs, mask=ok, other=0.0))
    tl.store(Y + offs, y, mask=ok)
    tl.store(CDF + offs, cdf, mask=ok)


def gelu_with_cdf(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(GELU(x), Phi(x)) of a float32 tensor through ``_gelu_parts`` (for accuracy checks)."""
    x = x.contiguous()
    y, cdf = torch.empty_like(x), torch.empty_like(x)
    block = 1024
    _gelu_kernel[(triton.cdiv(x.numel(), block),)](x, y, cdf, x.numel(), BLOCK=block)
    return y, cdf


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
def _program_setup(U, W, D, SPLIT_LEN, J, BLOCK_J: tl.constexpr, BLOCK_D: tl.constexpr):
    """Common prologue of the (Q, NSPLIT)-grid kernels: query q, its entry range [j_lo, j_hi), the tile offsets,
    the d mask and the fp32 vectors U[q] and w."""
    q = tl.program_id(0).to(tl.int64)
    j_lo = tl.program_id(1).to(tl.int64) * SPLIT_LEN
    j_hi = tl.minimum(j_lo + SPLIT_LEN, J)
    offs_j = tl.arange(0, BLOCK_J)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < D
    u = tl.load(U + q * D + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    w = tl.load(W + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    return q, j_lo, j_hi, offs_j, offs_d, d_ok, u, w


@triton.jit
def _merge_partials(PM, PL, PX, base, NSPLIT, BLOCK_S: tl.constexpr):
    """Merge the NSPLIT per-split softmax partials of one query (max m_s, normaliser l_s, and a scalar x_s summed
    with the same weights) -> (m, l, x) with l = sum_s l_s exp(m_s - m); (+inf, 1, 0) when no entry is valid."""
    offs_s = tl.arange(0, BLOCK_S)
    s_ok = offs_s < NSPLIT
    m_s = tl.load(PM + base + offs_s, mask=s_ok, other=float("-inf"))
    l_s = tl.load(PL + base + offs_s, mask=s_ok, other=0.0)
    x_s = tl.load(PX + base + offs_s, mask=s_ok, other=0.0)
    m = tl.max(m_s, axis=0)
    m_use = tl.where(m == float("-inf"), 0.0, m)
    scale = tl.exp(m_s - m_use)  # 0 for a split without a valid entry (m_s = -inf)
    norm = tl.sum(l_s * scale, axis=0)
    x = tl.sum(x_s * scale, axis=0)
    nonempty = norm > 0.0
    return tl.where(nonempty, m, float("inf")), tl.where(nonempty, norm, 1.0), x, m_use


@triton.jit
def _tile_scores(P, IDX, MASK, q, j0, J, R, D, u, w, offs_j, offs_d, d_ok, HAS_MASK: tl.constexpr):
    """One tile of query q recomputed from P: (pre, e, cdf, scores s (-inf where invalid), valid, row, j)."""
    pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
    e, cdf = _gelu_parts(pre)
    s = tl.where(valid, tl.sum(e * w[None, :], axis=1), float("-inf"))
    return pre, e, cdf, s, valid, row, j


@triton.jit
def _online_softmax_step(m_i, l_i, s):
    """Online softmax over one tile of scores: (new max, exp(s - max), rescale alpha of the old state, new
    normaliser); safe when every score so far is -inf."""
    m_new = tl.maximum(m_i, tl.max(s, axis=0))
    m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp(s - m_use)
    alpha = tl.exp(m_i - m_use)
    return m_new, p, alpha, l_i * alpha + tl.sum(p, axis=0)


@triton.jit
def _fwd_partial_kernel(
    P,
    U,
    W,
    IDX,
    MASK,
    SCORES,
    PM,
    PL,
    PACC,
    J,
    R,
    D,
    SPLIT_LEN,
    NSPLIT,
    HAS_MASK: tl.constexpr,
    REDUCE: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # grid (Q, NSPLIT): program (q, sp) owns entries [sp * SPLIT_LEN, (sp + 1) * SPLIT_LEN) of query q (SPLIT_LEN
    # is a multiple of BLOCK_J, so tiles never straddle two splits) and writes its partial softmax state: the max
    # m_s, the normaliser l_s = sum exp(s_j - m_s) and, for reduce=True, acc_s = sum exp(s_j - m_s) e_j.
    # reduce=False stores the scores in the [Q, J] fp32 scratch SCORES: the write pass reads them instead of
    # recomputing (with |s| ~ 1e4 a recomputation that rounds differently shifts exp(s - m) by ~1e-2 relative).
    q, j_lo, j_hi, offs_j, offs_d, d_ok, u, w = _program_setup(U, W, D, SPLIT_LEN, J, BLOCK_J, BLOCK_D)
    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.full([], 0.0, tl.float32)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    for j0 in range(j_lo, j_hi, BLOCK_J):
        pre, e, cdf, s, valid, row, j = _tile_scores(P, IDX, MASK, q, j0, J, R, D, u, w, offs_j, offs_d, d_ok, HAS_MASK)
        if not REDUCE:
            tl.store(SCORES + q * J + j, s, mask=j < J)
        m_new, p, alpha, l_i = _online_softmax_step(m_i, l_i, s)
        if REDUCE:
            acc = acc * alpha + tl.sum(p[:, None] * e, axis=0)
        m_i = m_new
    part = q * NSPLIT + tl.program_id(1)
    tl.store(PM + part, m_i)
    tl.store(PL + part, l_i)
    if REDUCE:
        tl.store(PACC + part * D + offs_d, acc, mask=d_ok)


@triton.jit
def _fwd_combine_kernel(
    PM,
    PL,
    PACC,
    OUT,
    STATS,
    NSPLIT,
    D,
    REDUCE: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # grid (Q,): merges the NSPLIT partials of query q into the stats (m, l) and, for reduce=True, the output
    # out = sum_s exp(m_s - m) acc_s / l (a query with no valid entry: (+inf, 1) and zeros)
    q = tl.program_id(0).to(tl.int64)
    base = q * NSPLIT
    m, norm, unused, m_use = _merge_partials(PM, PL, PL, base, NSPLIT, BLOCK_S)
    tl.store(STATS + 2 * q, m)
    tl.store(STATS + 2 * q + 1, norm)
    if REDUCE:
        offs_d = tl.arange(0, BLOCK_D)
        d_ok = offs_d < D
        acc = tl.zeros([BLOCK_D], dtype=tl.float32)
        for sp in range(0, NSPLIT):
            m_s = tl.load(PM + base + sp)
            part = tl.load(PACC + (base + sp) * D + offs_d, mask=d_ok, other=0.0)
            acc += part * tl.exp(m_s - m_use)
        tl.store(OUT + q * D + offs_d, (acc / norm).to(OUT.dtype.element_ty), mask=d_ok)


@triton.jit
def _fwd_write_kernel(
    P,
    U,
    IDX,
    MASK,
    SCORES,
    STATS,
    OUT,
    J,
    R,
    D,
    SPLIT_LEN,
    HAS_MASK: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # grid (Q, NSPLIT), reduce=False only: weighted edges a_j e_j with a_j = exp(s_j - m) / l from the stored scores
    # (no score weight here: U is passed again in its place and the loaded vector is unused)
    q, j_lo, j_hi, offs_j, offs_d, d_ok, u, unused = _program_setup(U, U, D, SPLIT_LEN, J, BLOCK_J, BLOCK_D)
    m = tl.load(STATS + 2 * q)
    norm = tl.load(STATS + 2 * q + 1)
    for j0 in range(j_lo, j_hi, BLOCK_J):
        pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
        e, cdf = _gelu_parts(pre)
        s = tl.load(SCORES + q * J + j, mask=j < J, other=float("-inf"))
        a = tl.exp(tl.where(valid, s - m, float("-inf"))) / norm
        optrs = OUT + (q * J + j)[:, None] * D + offs_d[None, :]
        tl.store(optrs, (a[:, None] * e).to(OUT.dtype.element_ty), mask=(j < J)[:, None] & d_ok[None, :])


@triton.jit
def _query_grad(GO, q, D, offs_d, d_ok, REDUCE: tl.constexpr):
    # reduce=True: the query's upstream gradient g [BLOCK_D], loaded once per program; reduce=False: unused (the
    # per-edge g_j are loaded per tile by _grad_tile), a zero placeholder the compiler drops.
    if REDUCE:
        go = tl.load(GO + q * D + offs_d, mask=d_ok, other=0.0).to(tl.float32)
    else:
        go = tl.zeros_like(offs_d).to(tl.float32)
    return go


@triton.jit
def _grad_tile(GO, go, q, j, J, D, offs_d, tile_ok, REDUCE: tl.constexpr):
    # The upstream gradient of a tile's entries, fp32 [BLOCK_J, BLOCK_D]: reduce=True broadcasts the query's g
    # (loaded once per program as ``go``), reduce=False loads g_j of each edge.
    if REDUCE:
        g = go[None, :]
    else:
        g = tl.load(GO + (q * J + j)[:, None] * D + offs_d[None, :], mask=tile_ok, other=0.0).to(tl.float32)
    return g


@triton.jit
def _bwd_stats_kernel(
    GO,
    SCORES,
    P,
    U,
    W,
    IDX,
    MASK,
    PM,
    PL,
    PD,
    J,
    R,
    D,
    SPLIT_LEN,
    NSPLIT,
    HAS_MASK: tl.constexpr,
    REDUCE: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # Backward pass 1, grid (Q, NSPLIT): recomputes the scores of its entries (kept in the [Q, J] fp32 scratch
    # SCORES for pass 2) and the partial softmax state (m_s, l_s) plus d_s = sum exp(s_j - m_s) (g_j . e_j), so
    # that pass 2 uses weights and delta = sum_j a_j (g_j . e_j) that are consistent with the scores it reads.
    # (Mixing recomputed scores with the forward's statistics is off by several ulp(s) in exp(s - m), i.e. ~1e-2
    # relative for |s| ~ 1e4, caught by the GPU tests.)
    q, j_lo, j_hi, offs_j, offs_d, d_ok, u, w = _program_setup(U, W, D, SPLIT_LEN, J, BLOCK_J, BLOCK_D)
    go = _query_grad(GO, q, D, offs_d, d_ok, REDUCE)
    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.full([], 0.0, tl.float32)
    d_acc = tl.full([], 0.0, tl.float32)
    for j0 in range(j_lo, j_hi, BLOCK_J):
        pre, e, cdf, s, valid, row, j = _tile_scores(P, IDX, MASK, q, j0, J, R, D, u, w, offs_j, offs_d, d_ok, HAS_MASK)
        tl.store(SCORES + q * J + j, s, mask=j < J)
        g = _grad_tile(GO, go, q, j, J, D, offs_d, valid[:, None] & d_ok[None, :], REDUCE)
        da = tl.where(valid, tl.sum(g * e, axis=1), 0.0)
        m_new, p, alpha, l_i = _online_softmax_step(m_i, l_i, s)
        d_acc = d_acc * alpha + tl.sum(p * da, axis=0)
        m_i = m_new
    part = q * NSPLIT + tl.program_id(1)
    tl.store(PM + part, m_i)
    tl.store(PL + part, l_i)
    tl.store(PD + part, d_acc)


@triton.jit
def _bwd_grad_kernel(
    GO,
    SCORES,
    P,
    U,
    W,
    IDX,
    MASK,
    PM,
    PL,
    PD,
    DP,
    DU_PART,
    DW_PART,
    J,
    R,
    D,
    SPLIT_LEN,
    NSPLIT,
    HAS_MASK: tl.constexpr,
    REDUCE: tl.constexpr,
    ATOMIC: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_J: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    # Backward pass 2, grid (Q, NSPLIT): every program merges its query's NSPLIT partials (a few scalars) into
    # (m, l, delta), then for its entries: a_j = exp(s_j - m) / l, ds_j = a_j (g_j . e_j - delta),
    # dpre_j = (a_j g_j + ds_j w) * GELU'(pre_j); dP[row_j] += dpre_j (fp32 atomics, or a per-edge buffer when
    # deterministic), and per-(query, split) partials of dU = -sum_j dpre_j and dw = sum_j ds_j e_j.
    q, j_lo, j_hi, offs_j, offs_d, d_ok, u, w = _program_setup(U, W, D, SPLIT_LEN, J, BLOCK_J, BLOCK_D)
    go = _query_grad(GO, q, D, offs_d, d_ok, REDUCE)
    m_i, l_i, d_sum, unused = _merge_partials(PM, PL, PD, q * NSPLIT, NSPLIT, BLOCK_S)
    delta = d_sum / l_i
    du = tl.zeros([BLOCK_D], dtype=tl.float32)
    dw = tl.zeros([BLOCK_D], dtype=tl.float32)
    for j0 in range(j_lo, j_hi, BLOCK_J):
        pre, valid, row, j = _load_tile(P, IDX, MASK, q, j0, J, R, D, u, offs_j, offs_d, d_ok, HAS_MASK)
        e, cdf = _gelu_parts(pre)
        s = tl.load(SCORES + q * J + j, mask=j < J, other=float("-inf"))
        a = tl.exp(tl.where(valid, s - m_i, float("-inf"))) / l_i
        tile_ok = valid[:, None] & d_ok[None, :]
        g = _grad_tile(GO, go, q, j, J, D, offs_d, tile_ok, REDUCE)
        da = tl.sum(g * e, axis=1)
        ds = a * (da - delta)
        de = a[:, None] * g + ds[:, None] * w[None, :]
        dgelu = cdf + pre * _exp_ftz(-0.5 * pre * pre) * 0.3989422804014327
        dpre = tl.where(tile_ok, de * dgelu, 0.0)
        du -= tl.sum(dpre, axis=0)
        dw += tl.sum(ds[:, None] * e, axis=0)
        if ATOMIC:
            tl.atomic_add(DP + row[:, None] * D + offs_d[None, :], dpre, mask=tile_ok)
        else:
            dptrs = DP + (q * J + j)[:, None] * D + offs_d[None, :]
            tl.store(dptrs, dpre, mask=(j < J)[:, None] & d_ok[None, :])
    part = q * NSPLIT + tl.program_id(1)
    tl.store(DU_PART + part * D + offs_d, du, mask=d_ok)
    tl.store(DW_PART + part * D + offs_d, dw, mask=d_ok)


def block_sizes(J: int, D: int, backward: bool = False) -> tuple[int, int, int]:
    """(BLOCK_J, BLOCK_D, num_warps): the full d in one tile, BLOCK_J rows so a tile holds <= 8192 (fwd) or
    4096 (bwd) fp32 values."""
    block_d = max(16, triton.next_power_of_2(D))
    budget = 4096 if backward else 8192
    block_j = max(2, min(triton.next_power_of_2(max(J, 1)), budget // block_d, 64))
    num_warps = 4 if block_d <= 256 else 8
    return block_j, block_d, num_warps


def split_plan(Q: int, J: int, block_j: int, splits: Optional[int] = None) -> tuple[int, int]:
    """(NSPLIT, SPLIT_LEN): how each query's J entries are cut across programs (grid = (Q, NSPLIT)).

    By default enough splits for about ``TARGET_PROGRAMS`` programs (a few per SM on an H100/H200, decided
    without querying the device so that the launcher traces under torch.compile), never more than one split per
    BLOCK_J tile. SPLIT_LEN is a multiple of BLOCK_J; the returned NSPLIT leaves no split empty.
    """
    n_blocks = max(1, triton.cdiv(J, block_j))
    if splits is None:
        splits = triton.cdiv(TARGET_PROGRAMS, max(Q, 1))
    splits = max(1, min(int(splits), n_blocks))
    split_len = triton.cdiv(n_blocks, splits) * block_j
    return max(1, triton.cdiv(J, split_len)), split_len


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
    splits: Optional[int] = None,
    num_warps: Optional[int] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the forward kernels. Returns (out [Q, d] or [Q, J, d] in the input dtype, stats [Q, 2] float32:
    the softmax max and normaliser, (+inf, 1) for a query with no valid entry).

    Kernels: ``_fwd_partial_kernel`` on a (Q, NSPLIT) grid, ``_fwd_combine_kernel`` on (Q,), and for
    reduce=False ``_fwd_write_kernel`` on (Q, NSPLIT). ``wrap`` is ``torch.library.wrap_triton`` inside the
    registered op (identity when called directly, e.g. from the tests under ``TRITON_INTERPRET=1``).
    ``block_j`` (a power of two >= 2) overrides the heuristic tile height, ``splits`` the number of J splits per
    query (see ``split_plan``) and ``num_warps`` the warps per program, e.g. to make tests span several tiles and
    splits with tiny shapes, or to tune on a GPU (``bench_edge_aggregation.py --splits-sweep``).
    """
    C, R, D = proj_memory.shape
    Q, G = index.shape
    J = G * R
    dev = proj_query.device
    P = proj_memory.contiguous()
    U = proj_query.contiguous()
    idx = index.contiguous()
    w = score_weight.contiguous()
    mask, has_mask = _mask_arg(entry_mask, idx)
    out = torch.empty((Q, D) if reduce else (Q, J, D), dtype=proj_query.dtype, device=dev)
    stats = torch.empty((Q, 2), dtype=torch.float32, device=dev)
    if Q == 0:
        return out, stats
    bj, block_d, nw = block_sizes(J, D)
    block_j = bj if block_j is None else block_j
    num_warps = nw if num_warps is None else num_warps
    nsplit, split_len = split_plan(Q, J, block_j, splits)
    scores = torch.empty((Q, J) if not reduce else (1,), dtype=torch.float32, device=dev)
    pm = torch.empty((Q, nsplit), dtype=torch.float32, device=dev)
    pl = torch.empty((Q, nsplit), dtype=torch.float32, device=dev)
    pacc = torch.empty((Q, nsplit, D) if reduce else (1,), dtype=torch.float32, device=dev)
    wrap(_fwd_partial_kernel)[(Q, nsplit)](
        P,
        U,
        w,
        idx,
        mask,
        scores,
        pm,
        pl,
        pacc,
        J,
        R,
        D,
        split_len,
        nsplit,
        HAS_MASK=has_mask,
        REDUCE=reduce,
        BLOCK_J=block_j,
        BLOCK_D=block_d,
        num_warps=num_warps,
    )
    wrap(_fwd_combine_kernel)[(Q,)](
        pm,
        pl,
        pacc,
        out,
        stats,
        nsplit,
        D,
        REDUCE=reduce,
        BLOCK_S=max(2, triton.next_power_of_2(nsplit)),
        BLOCK_D=block_d,
        num_warps=num_warps,
    )
    if not reduce:
        wrap(_fwd_write_kernel)[(Q, nsplit)](
            P,
            U,
            idx,
            mask,
            scores,
            stats,
            out,
            J,
            R,
            D,
            split_len,
            HAS_MASK=has_mask,
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
    splits: Optional[int] = None,
    num_warps: Optional[int] = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch the backward kernels (``_bwd_stats_kernel`` then ``_bwd_grad_kernel``, both on a (Q, NSPLIT) grid).
    Returns (dP [C, R, d], dU [Q, d], dw [d]) in the input dtypes."""
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
    # `out` and `stats` are the op's saved tensors (the CPU kernel uses stats); the Triton kernels recompute the
    # softmax state self-consistently and only need a [Q, J] fp32 score scratch.
    bj, block_d, nw = block_sizes(J, D, backward=True)
    block_j = bj if block_j is None else block_j
    num_warps = nw if num_warps is None else num_warps
    nsplit, split_len = split_plan(Q, J, block_j, splits)
    scores = torch.empty((Q, J), dtype=torch.float32, device=dev)
    # per-(query, split) softmax partials: max m_s, normaliser l_s, d_s = sum exp(s_j - m_s) (g_j . e_j)
    pm = torch.empty((Q, nsplit), dtype=torch.float32, device=dev)
    pl = torch.empty((Q, nsplit), dtype=torch.float32, device=dev)
    pd = torch.empty((Q, nsplit), dtype=torch.float32, device=dev)
    du_part = torch.empty((Q, nsplit, D), dtype=torch.float32, device=dev)
    dw_part = torch.empty((Q, nsplit, D), dtype=torch.float32, device=dev)
    if deterministic:
        dp_buf = torch.empty((Q * J, D), dtype=torch.float32, device=dev)
    else:
        dp_buf = torch.zeros((C * R, D), dtype=torch.float32, device=dev)
    if Q > 0:
        wrap(_bwd_stats_kernel)[(Q, nsplit)](
            go,
            scores,
            P,
            U,
            w,
            idx,
            mask,
            pm,
            pl,
            pd,
            J,
            R,
            D,
            split_len,
            nsplit,
            HAS_MASK=has_mask,
            REDUCE=reduce,
            BLOCK_J=block_j,
            BLOCK_D=block_d,
            num_warps=num_warps,
        )
        wrap(_bwd_grad_kernel)[(Q, nsplit)](
            go,
            scores,
            P,
            U,
            w,
            idx,
            mask,
            pm,
            pl,
            pd,
            dp_buf,
            du_part,
            dw_part,
            J,
            R,
            D,
            split_len,
            nsplit,
            HAS_MASK=has_mask,
            REDUCE=reduce,
            ATOMIC=not deterministic,
            BLOCK_S=max(2, triton.next_power_of_2(nsplit)),
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
    du = du_part.sum(1) if nsplit > 1 else du_part[:, 0]
    dw = dw_part.sum((0, 1))
    return dp.reshape(C, R, D).to(proj_memory.dtype), du.to(proj_query.dtype), dw.to(score_weight.dtype)
