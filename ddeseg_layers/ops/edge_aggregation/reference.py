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

``entry_mask`` ([C, R] bool, optional) marks valid memory entries (e.g. ``SemanticMemory.rep_mask``); it is
gathered like the memory. A masked entry gets softmax weight exactly 0 (its edge in the reduce=False output is 0
and it receives no gradient); a query whose entries are all masked yields zeros. Masked entries must hold finite
values (their values never influence the result). GELU is the exact erf form (``F.gelu`` default).

This file computes the equation *as written*: it materialises the [Q, J, d] difference tensor and runs
Q*J d x d products. It is the oracle for the factorised and fused paths and is selectable with
``DDESEG_BACKEND=reference``.
"""

from __future__ import annotations

from typing import Optional

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
    *,
    entry_mask: Optional[torch.Tensor] = None,
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
        entry_mask: optional [C, R] bool, True = valid entry (see the module docstring).

    Returns:
        [Q, G*R, d] (reduce=False) or [Q, d] (reduce=True).
    """
    Q, d = query.shape
    C, R, _ = memory.shape
    G = index.shape[1]
    x = memory[index]  # [Q, G, R, d]
    x = x.reshape(Q, G * R, d)
    diff = x - query[:, None, :]  # [Q, J, d]
    e = F.gelu(diff @ weight.t() + bias)  # [Q, J, d]
    s = e @ score_weight  # [Q, J]
    if entry_mask is None:
        a = torch.softmax(s, dim=1)
    else:
        valid = entry_mask[index].reshape(Q, G * R)  # [Q, J]
        any_valid = valid.any(dim=1, keepdim=True)
        # rows without a valid entry get a uniform (finite) softmax that the mask then zeroes: no NaN in
        # the values or the gradients
        s = s.masked_fill(~valid, float("-inf")).masked_fill(~any_valid, 0.0)
        a = torch.softmax(s, dim=1) * valid
    weighted = a[..., None] * e
    return weighted.sum(dim=1) if reduce else weighted
