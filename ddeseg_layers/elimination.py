"""Dynamic Elimination Module, DEM (paper §3.2, eqs. 13-17).

``DynamicElimination(dim)(tokens [N, K, d], visual [N, HW, d]) -> [N, K, d]``; ``return_scores=True`` also returns
S [N, K] (in the graph); ``.last_scores`` holds S detached.

``variant="paper"``, ``scheme="gs"`` (default, Table 4 scheme 5):

* eq. 13  O = softmax((V C_v^T + g) / tau) over the K_v centres, g ~ Gumbel(0, 1) i.i.d.   [N, HW, K_v]
          In eval mode no noise is drawn: O = softmax(V C_v^T / tau) (the noise-free assignment; deterministic).
          ``stochastic_eval=True`` keeps sampling in eval.
* eq. 14  refined centres. Interpretation (see docs/design.md): ``centers="aggregate"`` (default) gives the K_v
          soft-assigned means of the visual features, C_v' = diag(1^T O)^-1 O^T V  [N, K_v, d] (the shape C_v has
          in the paper, "compact" visual semantics); ``centers="per_pixel"`` is the literal product O C_v
          [N, HW, d] (what the official code computes).
* eq. 15  F_av = MCA(A, C_v'): multi-head cross-attention, audio tokens as queries, centres as keys/values (SDPA).
* eq. 16  S = sigmoid(MLP(F_av))  [N, K]   (MLP = one Linear(d, 1) by default, ``score_hidden`` adds a hidden layer)
* eq. 17  A' = S * A  (each token scaled by its own scalar score).

Initialisation (the paper names none): ``init="release"`` (default) gives every Linear trunc_normal(0.02) and zero
bias, as the release. At that scale the eq. 15 queries and keys are so small that every token attends to the K_v
centres with the same (near-uniform) weights, so F_av, and with it S, is the same for the K tokens of a frame
whatever they hold (measured: spread of S over K <= 0.0008 on the harder synthetic set; docs/training.md).
``init="xavier"`` (paper variant, schemes with an MCA) initialises the MCA's q / k / v / output projections with
``xavier_uniform_`` (as ``nn.MultiheadAttention``), so distinct tokens get distinct F_av from the start.

Other Table 4 schemes: ``"none"`` (S = 1, identity), ``"fc"`` (S = sigmoid(MLP(A)), no visual input), ``"ca_fc"``
(MCA against the raw visual features), ``"softkmeans_ca_fc"`` (eq. 13 without Gumbel noise in training too).

``variant="official"`` (field notes §1.5, ``AV_Aligner``'s scoring half): per-pixel centres O C_v with logits V C_v^T
(no scaling) through ``F.gumbel_softmax`` (eval deterministic unless ``stochastic_eval``), cross-attention with
bias-free q/k/v and no output projection (``proj`` exists but is unused), ``fc`` Linear(d, 1) and a **softmax over
the K tokens** instead of the sigmoid: S sums to 1 over K. Output ``S * tokens`` (the official aligner then sums
over K; see ``ddeseg_layers.fusion.OfficialAVAligner``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadCrossAttention

SCHEMES = ("none", "fc", "ca_fc", "softkmeans_ca_fc", "gs")
_MCA_SCHEMES = ("ca_fc", "softkmeans_ca_fc", "gs")  # schemes with the eq. 15 cross-attention
INITS = ("release", "xavier")
_VARIANTS = ("paper", "official")
_CENTERS = ("aggregate", "per_pixel")


def soft_assign(
    logits: torch.Tensor, tau: float, *, gumbel: bool, training: bool, stochastic_eval: bool = False
) -> torch.Tensor:
    """Eq. 13: soft assignment over the last dim. Gumbel noise only when ``gumbel`` and (training or stochastic)."""
    if gumbel and (training or stochastic_eval):
        return F.gumbel_softmax(logits, tau=tau, hard=False, dim=-1)
    return torch.softmax(logits / tau, dim=-1)


def log_soft_assign(
    logits: torch.Tensor, tau: float, *, gumbel: bool, training: bool, stochastic_eval: bool = False
) -> torch.Tensor:
    """log O of :func:`soft_assign`, computed as a log-softmax; the Gumbel noise is drawn exactly as
    ``F.gumbel_softmax`` draws it (same generator calls, so the same O for the same seed). Eq. 14's aggregate centres
    need log O: a centre no pixel is assigned to has all its O entries near or below the smallest normal number."""
    if gumbel and (training or stochastic_eval):
        gumbels = -torch.empty_like(logits, memory_format=torch.legacy_contiguous_format).exponential_().log()
        return torch.log_softmax((logits + gumbels) / tau, dim=-1)
    return torch.log_softmax(logits / tau, dim=-1)


class OfficialGumbelClustering(nn.Module):
    """Official ``GumbelSoftmaxClustering``: per-pixel soft centre O C_v, [N, HW, d] (parameter ``cluster_centers``)."""

    def __init__(
        self,
        num_clusters: int,
        dim: int,
        tau: float = 1.0,
        stochastic_eval: bool = False,
        *,
        gumbel: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.tau = tau
        self.stochastic_eval = stochastic_eval
        self.gumbel = bool(gumbel)  # False: plain softmax assignment (the soft k-means ablation, Table 4 scheme 4)
        self.cluster_centers = nn.Parameter(torch.randn(num_clusters, dim, device=device, dtype=dtype))

    def assign(self, visual: torch.Tensor) -> torch.Tensor:
        """Soft assignment O [N, HW, K_v] (Gumbel noise as :func:`soft_assign` decides)."""
        logits = visual @ self.cluster_centers.t()  # [N, HW, K_v]
        return soft_assign(
            logits, self.tau, gumbel=self.gumbel, training=self.training, stochastic_eval=self.stochastic_eval
        )

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        return self.assign(visual) @ self.cluster_centers  # [N, HW, d]


class OfficialCrossModalInteraction(nn.Module):
    """Official ``Cross_modal_interaction``: bias-free q/k/v, scale (d/h)^-0.5, output projection never applied.

    ``mode="softmax"``: softmax attention (SDPA). ``mode="sigmoid"``: per-key sigmoid(q.k * scale) weights, no
    normalisation (not expressible with SDPA). Parameters ``q_proj, k_proj, v_proj, proj`` (proj: Linear with bias).

    Sigmoid mode with few keys (L_k * heads <= d, e.g. the aligner's one pooled token) folds the query projection
    into the keys: per head ``q_h . k_h = x . (W_q,h^T k_h)``, so the [N, L_q, d] x [d, d] projection of the
    queries becomes an [N, L_q, d] x [d, h L_k] product (the same function up to float rounding).
    """

    def __init__(self, dim: int, num_heads: int = 8, *, device=None, dtype=None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"OfficialCrossModalInteraction: dim={dim} is not divisible by num_heads={num_heads}")
        dd = {"device": device, "dtype": dtype}
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim, bias=False, **dd)
        self.k_proj = nn.Linear(dim, dim, bias=False, **dd)
        self.v_proj = nn.Linear(dim, dim, bias=False, **dd)
        self.proj = nn.Linear(dim, dim, **dd)  # kept for checkpoint compatibility; unused, as in the official code
        for m in (self.q_proj, self.k_proj, self.v_proj, self.proj):
            nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def forward(self, query: torch.Tensor, context: torch.Tensor, mode: str) -> torch.Tensor:
        from .attention import kv_linear, merge_heads, sdpa_heads, split_heads

        if mode == "softmax":
            return sdpa_heads(self.q_proj(query), *kv_linear(context, self.k_proj, self.v_proj), self.num_heads)
        if mode != "sigmoid":
            raise ValueError(f"OfficialCrossModalInteraction: mode must be 'softmax' or 'sigmoid', got {mode!r}")
        h = self.num_heads
        n, lq, d = query.shape
        lk = context.shape[1]
        kh, vh = split_heads(self.k_proj(context), h), split_heads(self.v_proj(context), h)  # [N, h, L_k, d/h]
        scale = (d // h) ** -0.5
        if lk * h <= d:  # fold W_q into the keys: u[n, h, j] = W_q,h^T k[n, h, j]   [N, h, L_k, d]
            u = kh @ self.q_proj.weight.view(h, d // h, d)
            attn = torch.sigmoid((query @ u.reshape(n, h * lk, d).transpose(1, 2)) * scale)  # [N, L_q, h L_k]
            attn = attn.view(n, lq, h, lk).transpose(1, 2)  # [N, h, L_q, L_k]
        else:
            qh = split_heads(self.q_proj(query), h)
            attn = torch.sigmoid((qh @ kh.transpose(-2, -1)) * scale)
        if lk == 1:  # one key: a per-head gate times its value, no matmul
            return (attn.transpose(1, 2) * vh.transpose(1, 2)).reshape(n, lq, d)
        return merge_heads(attn @ vh)

    def softmax_over_assigned_centres(self, query: torch.Tensor, assign: torch.Tensor, centres: torch.Tensor):
        """``forward(query, assign @ centres, "softmax")`` without the [N, HW, d] per-pixel centres.

        With O = ``assign`` [N, HW, K_v] and C_v = ``centres`` [K_v, d], the keys are O (C_v W_k^T) and the values
        O (C_v W_v^T), so per head ``softmax(q_h (O C_k,h)^T s) O C_v,h = SDPA(q_h C_k,h^T, O, O, scale=s) C_v,h``:
        SDPA over the HW pixels with K_v-wide keys instead of d-wide ones (float rounding apart, the same result).
        Returns [N, L_q, d].
        """
        from .attention import merge_heads, split_heads

        h = self.num_heads
        n, lq, d = query.shape
        kv = centres.shape[0]
        ck = self.k_proj(centres).view(kv, h, d // h).transpose(0, 1)  # [h, K_v, d/h]
        cv = self.v_proj(centres).view(kv, h, d // h).transpose(0, 1)
        qk = split_heads(self.q_proj(query), h) @ ck.transpose(1, 2)  # [N, h, L_q, K_v]
        o = assign[:, None].expand(n, h, *assign.shape[1:])  # [N, h, HW, K_v]
        out = F.scaled_dot_product_attention(qk, o, o, scale=(d // h) ** -0.5)  # [N, h, L_q, K_v]
        return merge_heads(out @ cv)


def official_token_weights(
    tokens: torch.Tensor,
    visual: torch.Tensor,
    clustering: OfficialGumbelClustering,
    interaction: OfficialCrossModalInteraction,
    fc: nn.Linear,
) -> torch.Tensor:
    """Official DEM scores: softmax over K of fc(CA(tokens, per-pixel centres O C_v)). [N, K].

    The per-pixel centres [N, HW, d] are never formed: the cross-attention runs on the assignment O [N, HW, K_v]
    (:meth:`OfficialCrossModalInteraction.softmax_over_assigned_centres`).
    """
    o = clustering.assign(visual)  # [N, HW, K_v]
    fav = interaction.softmax_over_assigned_centres(tokens, o, clustering.cluster_centers)  # [N, K, d]
    return torch.softmax(fc(fav)[..., 0], dim=1)


class DynamicElimination(nn.Module):
    """Score derived audio tokens against visual semantics and scale them (eqs. 13-17).

    Args:
        dim: d, channels of tokens and visual features.
        num_heads: heads of the MCA (eq. 15).
        num_centers: K_v, learnable visual centres.
        tau: Gumbel-softmax temperature (eq. 13).
        scheme: Table 4 scheme, one of ``SCHEMES``.
        variant: "paper" or "official".
        centers: eq. 14 reading, "aggregate" (default) or "per_pixel" (paper variant only).
        stochastic_eval: draw Gumbel noise in eval mode too (the released code's behaviour).
        score_hidden: hidden width of the eq. 16 MLP; None = a single Linear(d, 1).
        qkv_bias: bias of the MCA q/k/v projections (paper variant).
        init: "release" (trunc_normal 0.02 everywhere) or "xavier" (the MCA's projections xavier-uniform; paper
            variant); see the module docstring.
        device, dtype: factory kwargs.

    Attributes:
        last_scores: S [N, K] of the last forward (detached).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_centers: int = 5,
        tau: float = 1.0,
        scheme: str = "gs",
        variant: str = "paper",
        *,
        centers: str = "aggregate",
        stochastic_eval: bool = False,
        score_hidden: Optional[int] = None,
        qkv_bias: bool = True,
        init: str = "release",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"DynamicElimination: scheme must be one of {SCHEMES}, got {scheme!r}")
        if variant not in _VARIANTS:
            raise ValueError(f"DynamicElimination: variant must be one of {_VARIANTS}, got {variant!r}")
        if centers not in _CENTERS:
            raise ValueError(f"DynamicElimination: centers must be one of {_CENTERS}, got {centers!r}")
        if tau <= 0:
            raise ValueError(f"DynamicElimination: tau must be > 0, got {tau}")
        if variant == "official" and scheme != "gs":
            raise ValueError("DynamicElimination: variant='official' only exists with scheme='gs'")
        if init not in INITS:
            raise ValueError(f"DynamicElimination: init must be one of {INITS}, got {init!r}")
        if init != "release" and (variant != "paper" or scheme not in _MCA_SCHEMES):
            raise ValueError(
                f"DynamicElimination: init={init!r} initialises the eq. 15 MCA of the paper variant; "
                f"variant={variant!r}, scheme={scheme!r} has none"
            )
        dd = {"device": device, "dtype": dtype}
        self.dim, self.num_heads, self.num_centers = dim, num_heads, num_centers
        self.tau, self.scheme, self.variant, self.centers = tau, scheme, variant, centers
        self.stochastic_eval = stochastic_eval
        self.init = init
        self.last_scores: Optional[torch.Tensor] = None
        if variant == "official":
            self.gumbel_clustering = OfficialGumbelClustering(num_centers, dim, tau, stochastic_eval, **dd)
            self.av_cros_interaction = OfficialCrossModalInteraction(dim, num_heads, **dd)
            self.fc = nn.Linear(dim, 1, **dd)
            return
        if scheme in ("softkmeans_ca_fc", "gs"):
            self.centers_v = nn.Parameter(torch.randn(num_centers, dim, **dd))  # C_v (eq. 13)
        if scheme in _MCA_SCHEMES:
            self.cross_attn = MultiHeadCrossAttention(dim, num_heads, qkv_bias=qkv_bias, **dd)  # eq. 15
        if scheme != "none":
            if score_hidden:
                self.score = nn.Sequential(
                    nn.Linear(dim, score_hidden, **dd), nn.GELU(), nn.Linear(score_hidden, 1, **dd)
                )
            else:
                self.score = nn.Linear(dim, 1, **dd)  # eq. 16
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if init == "xavier":
            for lin in (self.cross_attn.q, self.cross_attn.k, self.cross_attn.v, self.cross_attn.proj):
                nn.init.xavier_uniform_(lin.weight)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, num_centers={self.num_centers}, tau={self.tau}, "
            f"scheme={self.scheme!r}, variant={self.variant!r}, centers={self.centers!r}"
            + ("" if self.init == "release" else f", init={self.init!r}")
        )

    def visual_centres(self, visual: torch.Tensor) -> torch.Tensor:
        """Eqs. 13-14 (paper variant): [N, K_v, d] ("aggregate") or [N, HW, d] ("per_pixel")."""
        logits = visual @ self.centers_v.t()  # [N, HW, K_v]
        noise = dict(gumbel=self.scheme == "gs", training=self.training, stochastic_eval=self.stochastic_eval)
        if self.centers == "per_pixel":
            return soft_assign(logits, self.tau, **noise) @ self.centers_v
        # eq. 14, diag(1^T O)^-1 O^T V, as a softmax over the pixels of log O: the same weights, but a centre no
        # pixel is assigned to (soft mass near the smallest normal number) keeps finite values and gradients; the
        # quotient O^T V / 1^T O gave it a gradient of about |V| / mass, inf, then NaN after the softmax's backward
        weights = torch.softmax(log_soft_assign(logits, self.tau, **noise), dim=1)  # [N, HW, K_v], columns sum to 1
        return weights.transpose(1, 2) @ visual

    def scores(self, tokens: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """S [N, K] for the configured scheme."""
        if self.variant == "official":
            return official_token_weights(tokens, visual, self.gumbel_clustering, self.av_cros_interaction, self.fc)
        if self.scheme == "none":
            return tokens.new_ones(tokens.shape[:2])
        if self.scheme == "fc":
            fav = tokens
        elif self.scheme == "ca_fc":
            fav = self.cross_attn(tokens, visual)
        else:
            fav = self.cross_attn(tokens, self.visual_centres(visual))  # eq. 15
        return torch.sigmoid(self.score(fav)[..., 0])  # eq. 16

    def forward(
        self, tokens: torch.Tensor, visual: torch.Tensor, *, return_scores: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """tokens [N, K, d], visual [N, HW, d] -> S * tokens [N, K, d] (eq. 17), and S [N, K] when ``return_scores``.

        The returned S stays in the graph (callers that carry it further, e.g. the fusion encoders, back-propagate
        through it); ``last_scores`` keeps a detached copy.
        """
        if tokens.ndim != 3 or tokens.shape[-1] != self.dim:
            raise ValueError(f"DynamicElimination: tokens must be [N, K, {self.dim}], got {tuple(tokens.shape)}")
        if visual.ndim != 3 or visual.shape[-1] != self.dim or visual.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"DynamicElimination: visual must be [N={tokens.shape[0]}, HW, {self.dim}], got {tuple(visual.shape)}"
            )
        s = self.scores(tokens, visual)
        self.last_scores = s.detach()
        out = tokens * s[..., None].to(tokens.dtype)  # eq. 17
        return (out, s) if return_scores else out
