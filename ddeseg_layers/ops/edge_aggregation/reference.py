"""Literal reference of the edge-feature aggregation of DynamicDerivation (paper eqs. 5-6 and 9-10).

For every query vector ``q`` (row of ``query``) and the memory entries it looks at,

    x_j  = memory[index[q, g], r]                     g < G, r < R,  j = g * R + r  (J = G * R entries)
    e_j  = GELU(W (x_j - q) + b)                      eq. 5 / eq. 9              [d]
    s_j  = w . e_j                                    eq. 6 / eq. 10 (W_f in R^{1 x d})
    a_j  = softmax_j(s_j)                             over the J entries of the query
    out  = a_j * e_j               (reduce=False)     eq. 6: weighted edges      [Q, J, d]
    out  = sum_j a_j * e_j         (reduce=True)      eq. 10: weighted sum        [Q, d]

Step 2 (inter-class) uses ``memory = centroids[:, None]`` ([C, 1, d]) and ``index`` = the K nearest classes
([N, K]), reduce=False. Step 3 (intra-class) uses ``memory = reps`` ([C, R, d]) and ``index`` = the class each
derived token came from ([N*K, 1]), reduce=True.

This file computes the equation *as written*: it materialises the [Q, J, d] difference tensor and runs
Q*J d x d products. It is the oracle for the factorised and fused paths and is selectable with
``DDESEG_BACKEND=reference``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def edge_aggregate_reference(
    query: torch.Tensor,
    memory: torch.Tensor,
    index: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    score_weight: torch.Tensor,
    reduce: bool,
) -> torch.Tensor:
    """Literal eqs. 5-6 / 9-10.

    Args:
        query: [Q, d] query vectors (F_a for step 2, derived tokens a_i for step 3).
        memory: [C, R, d] memory entries per class.
        index: [Q, G] int64 class indices each query looks at.
        weight: [d, d] W_e / W_d (``nn.Linear`` layout: out x in).
        bias: [d] b_e / b_d.
        score_weight: [d] W_f1 / W_f2.
        reduce: False -> weighted edges [Q, G*R, d]; True -> their sum [Q, d].
    """
    Q, d = query.shape
    C, R, _ = memory.shape
    G = index.shape[1]
    x = memory[index]  # [Q, G, R, d]
    x = x.reshape(Q, G * R, d)
    diff = x - query[:, None, :]  # [Q, J, d]
    e = F.gelu(diff @ weight.t() + bias)  # [Q, J, d]
    s = e @ score_weight  # [Q, J]
    a = torch.softmax(s, dim=1)
    weighted = a[..., None] * e
    return weighted.sum(dim=1) if reduce else weighted
