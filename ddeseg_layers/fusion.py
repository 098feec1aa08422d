"""Feature fusion (paper §3.3, Fig. 4): the audio-query fusion block, and the official placement.

``AudioQueryFusionBlock(dim, num_heads, sr_ratio)(visual [N, HW, d], (H, W), tokens [N, K, d]) -> [N, HW, d]``

Fig. 4 order: cross-attention (audio tokens = queries, visual = keys/values) -> spatial-reduction convolution ->
self-attention -> feed-forward. Stacking blocks forms a MiT stage (depths 3/6/40/3). Reading chosen here (the
alternatives are in docs/design.md), pre-norm residual throughout:

1. audio refresh   T' = T + DropPath(CA(LN_a(T), LN_1(X)))                   ``norm_audio``, ``cross_attn.{q,k,v,proj}``
2. SR-conv + SA    X  = X + DropPath(proj(SDPA(q(LN_1 X), kv([LN_sr(SR(LN_1 X)) ; LN_t(T')]))))
                   (MiT efficient self-attention whose keys/values also hold the K refreshed audio tokens, so
                   every pixel reads the audio)              ``attn.{q,kv,sr,norm,proj}``, ``norm_tokens``
3. Mix-FFN         X  = X + DropPath(fc2(GELU(DWConv3x3(fc1(LN_2 X)))))  ``norm2``, ``mlp.{fc1,dwconv.dwconv,fc2}``

The MiT part keeps the NVlabs SegFormer parameter names and shapes, so a pretrained MiT block's keys load into it
and, with zero audio tokens (K = 0), the block computes exactly a MiT block.

``OfficialAVAligner(dim, num_heads=8, num_clusters=5)(visual [N, HW, C], tokens [N, K, C]) -> [N, HW, C]``:
the released ``AV_Aligner`` (field notes §1.5), once per stage after patch embedding: DEM-official weights
(softmax over K) pool the tokens into one vector a, then ``X + sigmoid-attention(q(X), k(a)) v(a)``.
Parameters ``fc, layer_norm (unused), gumbel_clustering.cluster_centers, av_cros_interaction.*,
va_cros_interaction.*``: 8 C^2 + 10 C + 1.

Table 4 / Table 3 ablations on the released network (``scheme``; not in the released code, see docs/design.md):
``"gs"`` (default, the released aligner), ``"softkmeans_ca_fc"`` (the same clustering without Gumbel noise),
``"ca_fc"`` (cross-attention against the raw visual tokens, no centres), ``"fc"`` (fc on the tokens alone) and
``"none"`` (uniform weights 1/K: the pooled vector is the mean token). The softmax over K stays in every scheme; a
scheme builds only the parameters it uses (``layer_norm`` and ``va_cros_interaction`` always).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from timm.layers import DropPath
from torch import nn

from .attention import MultiHeadCrossAttention
from .elimination import OfficialCrossModalInteraction, OfficialGumbelClustering, official_token_weights
from .mit_blocks import EfficientSelfAttention, MixFFN, init_mit_weights


class AudioQueryFusionBlock(nn.Module):
    """Fig. 4 feature-fusion block: audio-query cross-attention, SR-conv self-attention, Mix-FFN.

    Args:
        dim: d, channels of visual features and audio tokens.
        num_heads: attention heads (MiT stage value).
        sr_ratio: spatial-reduction ratio of the self-attention (MiT stage value).
        mlp_ratio: Mix-FFN hidden ratio.
        qkv_bias: bias of q/kv projections.
        drop_path: stochastic depth rate.
        norm_eps: eps of the block LayerNorms (1e-6 NVlabs; the official DDESeg backbone uses 1e-5).
        sr_norm_eps: eps of the self-attention's spatial-reduction LayerNorm (``attn.norm``; 1e-5, NVlabs'
            ``nn.LayerNorm(dim)``, independent of ``norm_eps``).
        attn_drop, proj_drop: dropouts.
        device, dtype: factory kwargs.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        sr_ratio: int = 1,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        *,
        sr_norm_eps: float = 1e-5,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.dim, self.num_heads, self.sr_ratio = dim, num_heads, sr_ratio
        # MiT part (NVlabs names)
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.attn = EfficientSelfAttention(dim, num_heads, qkv_bias, sr_ratio, sr_norm_eps, attn_drop, proj_drop, **dd)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio), proj_drop, **dd)
        # audio-specific part
        self.norm_audio = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.cross_attn = MultiHeadCrossAttention(dim, num_heads, qkv_bias=qkv_bias, **dd)
        self.norm_tokens = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.apply(init_mit_weights)

    def forward(
        self,
        visual: torch.Tensor,
        hw: Tuple[int, int],
        tokens: Optional[torch.Tensor],
        *,
        return_tokens: bool = False,
    ):
        """visual [N, HW, d], hw = (H, W), tokens [N, K, d] -> visual [N, HW, d] (and T' when return_tokens)."""
        n, length, c = visual.shape
        if c != self.dim or length != hw[0] * hw[1]:
            raise ValueError(
                f"AudioQueryFusionBlock: visual must be [N, H*W={hw[0] * hw[1]}, {self.dim}], got {tuple(visual.shape)}"
            )
        if tokens is not None and (tokens.ndim != 3 or tokens.shape[0] != n or tokens.shape[2] != c):
            raise ValueError(f"AudioQueryFusionBlock: tokens must be [N={n}, K, {c}], got {tuple(tokens.shape)}")
        x = self.norm1(visual)
        extra = None
        if tokens is not None and tokens.shape[1] > 0:
            tokens = tokens + self.drop_path(self.cross_attn(self.norm_audio(tokens), x))  # audio queries
            extra = self.norm_tokens(tokens)
        visual = visual + self.drop_path(self.attn(x, hw, extra))  # SR conv + self-attention
        visual = visual + self.drop_path(self.mlp.forward_normed(visual, self.norm2, hw))  # Mix-FFN
        return (visual, tokens) if return_tokens else visual


class OfficialAVAligner(nn.Module):
    """Released ``AV_Aligner`` (field notes §1.5): DEM-official pooling + visual-query sigmoid cross-attention.

    Args:
        dim: C, stage channels.
        num_heads: heads of both cross-modal interactions (8 in the released backbone).
        num_clusters: visual centres (5 in the released backbone).
        tau: Gumbel temperature (1.0).
        stochastic_eval: draw Gumbel noise in eval as the released code does (default False: deterministic).
        scheme: token-weighting ablation (module docstring); ``"gs"`` is the released aligner.
        device, dtype: factory kwargs.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_clusters: int = 5,
        tau: float = 1.0,
        stochastic_eval: bool = False,
        scheme: str = "gs",
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        from .elimination import SCHEMES

        if scheme not in SCHEMES:
            raise ValueError(f"OfficialAVAligner: scheme must be one of {SCHEMES}, got {scheme!r}")
        dd = {"device": device, "dtype": dtype}
        self.scheme = scheme
        # creation order as in the released module, so a seeded build initialises "gs" exactly as before
        self.fc = nn.Linear(dim, 1, **dd) if scheme != "none" else None
        self.layer_norm = nn.LayerNorm(dim, **dd)  # defined but unused in the released forward
        self.gumbel_clustering = (
            OfficialGumbelClustering(num_clusters, dim, tau, stochastic_eval, gumbel=scheme == "gs", **dd)
            if scheme in ("gs", "softkmeans_ca_fc")
            else None
        )
        self.av_cros_interaction = (
            OfficialCrossModalInteraction(dim, num_heads, **dd) if scheme.endswith("ca_fc") or scheme == "gs" else None
        )
        self.va_cros_interaction = OfficialCrossModalInteraction(dim, num_heads, **dd)
        self.last_scores: Optional[torch.Tensor] = None

    def token_weights(self, visual: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Softmax-over-K weights [N, K] of the configured scheme (``"gs"``: the released computation)."""
        if self.scheme in ("gs", "softkmeans_ca_fc"):
            return official_token_weights(tokens, visual, self.gumbel_clustering, self.av_cros_interaction, self.fc)
        if self.scheme == "none":
            return tokens.new_full(tokens.shape[:2], 1.0 / tokens.shape[1])
        fav = tokens if self.scheme == "fc" else self.av_cros_interaction(tokens, visual, "softmax")
        return torch.softmax(self.fc(fav)[..., 0], dim=1)

    def forward(self, visual: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """visual [N, HW, C], tokens [N, K, C] -> [N, HW, C]; ``last_scores`` = softmax-over-K weights [N, K]."""
        if (
            visual.ndim != 3
            or tokens.ndim != 3
            or visual.shape[0] != tokens.shape[0]
            or visual.shape[2] != tokens.shape[2]
        ):
            raise ValueError(
                f"OfficialAVAligner: need visual [N, HW, C] and tokens [N, K, C], got {tuple(visual.shape)} and "
                f"{tuple(tokens.shape)}"
            )
        w = self.token_weights(visual, tokens)
        self.last_scores = w.detach()
        pooled = (w[..., None] * tokens).sum(dim=1, keepdim=True)  # [N, 1, C]
        return visual + self.va_cros_interaction(visual, pooled, "sigmoid")
