"""Multi-head attention helpers shared by DynamicElimination (eq. 15) and the fusion blocks (Fig. 4).

All softmax attention goes through ``torch.nn.functional.scaled_dot_product_attention`` (SDPA), which picks the
flash / memory-efficient / math kernel for the device and dtype. Shapes follow timm: ``[N, L, d]`` token
sequences, heads split as ``[N, h, L, d/h]``.

* ``sdpa_heads(q, k, v, num_heads)``: already projected ``[N, Lq, d]``, ``[N, Lk, d]``, ``[N, Lk, d]`` ->
  ``[N, Lq, d]`` (softmax over the Lk keys, scale ``(d/h)^-0.5``).
* ``MultiHeadCrossAttention``: q/k/v/out projections around ``sdpa_heads``; queries and keys/values come from
  different sequences (``MCA`` of eq. 15, the audio-query cross-attention of Fig. 4). Keys and values are projected
  in one matmul (``kv_linear``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``[N, L, d]`` -> ``[N, h, L, d/h]``."""
    n, length, d = x.shape
    return x.reshape(n, length, num_heads, d // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[N, h, L, d/h]`` -> ``[N, L, d]``."""
    n, h, length, c = x.shape
    return x.transpose(1, 2).reshape(n, length, h * c)


def sdpa_heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_heads: int,
    *,
    dropout_p: float = 0.0,
    scale: Optional[float] = None,
) -> torch.Tensor:
    """Multi-head softmax attention of projected sequences through SDPA.

    Args:
        q: [N, Lq, d] projected queries.
        k: [N, Lk, d] projected keys.
        v: [N, Lk, d] projected values.
        num_heads: h; d must be divisible by h.
        dropout_p: attention dropout (only pass a non-zero value while training).
        scale: logit scale; None -> (d/h)^-0.5.

    Returns:
        [N, Lq, d].
    """
    if q.shape[-1] % num_heads:
        raise ValueError(f"attention.sdpa_heads: dim {q.shape[-1]} is not divisible by num_heads={num_heads}")
    out = F.scaled_dot_product_attention(
        split_heads(q, num_heads),
        split_heads(k, num_heads),
        split_heads(v, num_heads),
        dropout_p=dropout_p,
        scale=scale,
    )
    return merge_heads(out)


def kv_linear(context: torch.Tensor, k: nn.Linear, v: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """``(k(context), v(context))`` as one matmul against the stacked weights (one pass over ``context``, one
    larger GEMM); the two projections up to float rounding."""
    d = k.out_features
    bias = None if k.bias is None else torch.cat([k.bias, v.bias])
    return F.linear(context, torch.cat([k.weight, v.weight]), bias).split(d, dim=-1)


class MultiHeadCrossAttention(nn.Module):
    """Multi-head cross-attention ``proj(softmax(q(x) k(y)^T / sqrt(d/h)) v(y))`` through SDPA.

    Args:
        dim: d, the channel dimension of queries and keys/values.
        num_heads: h.
        qkv_bias: bias on the q/k/v projections.
        attn_drop: attention dropout (training only).
        proj_drop: dropout after the output projection.
        device, dtype: factory kwargs.

    Shapes: ``forward(x [N, Lq, d], context [N, Lk, d]) -> [N, Lq, d]``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"MultiHeadCrossAttention: dim={dim} is not divisible by num_heads={num_heads}")
        dd = {"device": device, "dtype": dtype}
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.k = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.v = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.proj = nn.Linear(dim, dim, **dd)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = kv_linear(context, self.k, self.v)
        out = sdpa_heads(
            self.q(x),
            k,
            v,
            self.num_heads,
            dropout_p=self.attn_drop if self.training else 0.0,
        )
        return self.proj_drop(self.proj(out))
