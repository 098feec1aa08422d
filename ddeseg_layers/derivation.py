"""Dynamic Derivation Module, DDM (paper §3.1 Steps 2-3, eqs. 5-12).

``DynamicDerivation(dim, num_neighbors=K)(audio [N, d], memory: SemanticMemory) -> tokens [N, K, d]``

Neighbour selection (both variants): Euclidean distances to the class centroids (``torch.cdist``, computed in fp32),
absent classes (``memory.class_mask`` False) at +inf, the K smallest -> ``last_indices`` [N, K] (a hard,
non-differentiable choice, as in the paper and the official code).

``variant="paper"`` (default), literal eqs. 5-12:

* eq. 5   e_i   = GELU(W_e (mu_i - F_a) + b_e)                          ``edge_fc_s1``
* eq. 6   w_i   = softmax_i(W_f1 e_i) (scalar per neighbour, W_f1 1 x d), e^_i = w_i e_i          ``fusion_s1``
* eq. 7   da_i  = tanh(W_o1 (F_a + e^_i) + b_o1)                        ``offset_s1``
* eq. 8   a_i   = F_a + da_i
* eq. 9   e_ij  = GELU(W_d (x_rep_j - a_i) + b_d) over the reps of class i                   ``edge_fc_s2``
* eq. 10  w_ij  = softmax_j(W_f2 e_ij) (scalar per rep), e^_i = sum_j w_ij e_ij                ``fusion_s2``
* eq. 11  da'_i = tanh(W_o2 e^_i + b_o2)                                 ``offset_s2``
* eq. 12  a^_i  = a_i * (1 + da'_i)

Eqs. 5-6 and 9-10 run through ``ddeseg_layers.ops.edge_aggregation.edge_aggregate``; step 3 passes
``entry_mask=memory.rep_mask`` so rep slots marked invalid get softmax weight 0 in eq. 10 (the sum runs over the
valid reps only). Under ``torch.compile`` the K <= present-classes check reads the memory's cached
``present_count`` so no graph break occurs.

``variant="official"`` reproduces the released ``TokenFeatureEnhancer`` (field notes §1.3): ``fusion_s1/s2`` are
d x d bias-free linears giving a channel-wise softmax (over the K neighbours, resp. the reps), step 2 is
multiplicative ``a1 = (1 + tanh(W_o1 (F_a + e')+b_o1)) * F_a``, step 3 gates every rep entry
``(1 + tanh(W_o2 (a1 + e2') + b_o2)) * a1`` and sums over the entries. Parameter names and layouts equal the
official ones (``edge_fc_s1.0.weight``, ``offset_s1.0.bias``, ``fusion_s1.weight``, ...), 6 d^2 + 4 d parameters.

Ablation switches (Table 3): ``step3=False`` returns a_i (eq. 8; official: a1); ``enabled=False`` skips derivation and
returns the input token repeated K times ([N, K, d], so every downstream shape and checkpoint stays the same).

Diagnostic token sources (not the paper's method; ``tokens=``, default ``"derived"`` = eqs. 5-12): the same
selection, then ``"centroids"`` returns the K selected class centroids mu_i, ``"audio_plus_centroids"`` returns
F_a + mu_i, ``"audio_and_centroids"`` returns [F_a, mu_1, ..., mu_{K-1}]. They answer "would K *distinct*
class tokens help the fusion?" on a given dataset (docs/training.md, "DDM tokens collapse"); the module's weights
are then unused (no gradient; distributed training needs ``find_unused_parameters``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .host_sync import values_readable
from .memory import SemanticMemory
from .ops.edge_aggregation import cached_projection, edge_aggregate

_VARIANTS = ("paper", "official")
INITS = ("release", "identity", "rep_gate")
TOKEN_SOURCES = ("derived", "centroids", "audio_plus_centroids", "audio_and_centroids")


def _linear_act(dim: int, act: nn.Module, dd: dict) -> nn.Sequential:
    # nn.Sequential(Linear, act) so the state-dict keys are "<name>.0.weight/bias" as in the official module
    return nn.Sequential(nn.Linear(dim, dim, **dd), act)


class DynamicDerivation(nn.Module):
    """Derive K single-source audio tokens from a mixed audio feature (eqs. 5-12).

    Args:
        dim: d, audio feature dimension (must equal ``memory.dim``).
        num_neighbors: K, nearest classes = derived tokens.
        variant: "paper" (eqs. 5-12 as written) or "official" (released code, field notes §1.3).
        step3: apply Step 3 (eqs. 9-12); False for the "Deri." ablation.
        enabled: False skips the module (Table 3 baseline): input repeated K times.
        tokens: "derived" (eqs. 5-12) or a diagnostic source: "centroids" (mu_i), "audio_plus_centroids"
            (F_a + mu_i), "audio_and_centroids" ([F_a, mu_1..mu_{K-1}]); see the module docstring.
        init: "release" (trunc_normal 0.02, as the official module) or "identity" (paper variant; step 2 starts
            near a_i = F_a + tanh(max(mu_i, F_a)), so the K tokens start distinct) or "rep_gate" (paper variant;
            eq. 12 starts as a channel gate from the selected class's reps); see ``reset_parameters``.
        backend: passed to ``edge_aggregate`` (None: its default dispatch).
        device, dtype: factory kwargs.

    Attributes:
        last_indices: [N, K] int64 indices of the selected classes after a forward (None when disabled).
    """

    def __init__(
        self,
        dim: int,
        num_neighbors: int = 5,
        variant: str = "paper",
        step3: bool = True,
        enabled: bool = True,
        tokens: str = "derived",
        init: str = "release",
        *,
        backend: Optional[str] = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"DynamicDerivation: variant must be one of {_VARIANTS}, got {variant!r}")
        if tokens not in TOKEN_SOURCES:
            raise ValueError(f"DynamicDerivation: tokens must be one of {TOKEN_SOURCES}, got {tokens!r}")
        if init not in INITS:
            raise ValueError(f"DynamicDerivation: init must be one of {INITS}, got {init!r}")
        if init != "release" and variant != "paper":
            raise ValueError(f"DynamicDerivation: init={init!r} is defined for variant='paper' (eqs. 5-12) only")
        if num_neighbors < 1:
            raise ValueError(f"DynamicDerivation: num_neighbors must be >= 1, got {num_neighbors}")
        dd = {"device": device, "dtype": dtype}
        self.dim = dim
        self.num_neighbors = num_neighbors
        self.variant = variant
        self.step3 = step3
        self.enabled = enabled
        self.tokens = tokens
        self.init = init
        self.backend = backend
        score_out = 1 if variant == "paper" else dim
        # Step 2 (eqs. 5-7): W_e,b_e / W_f1 / W_o1,b_o1
        self.edge_fc_s1 = _linear_act(dim, nn.GELU(), dd)
        self.fusion_s1 = nn.Linear(dim, score_out, bias=False, **dd)
        self.offset_s1 = _linear_act(dim, nn.Tanh(), dd)
        # Step 3 (eqs. 9-11): W_d,b_d / W_f2 / W_o2,b_o2
        self.edge_fc_s2 = _linear_act(dim, nn.GELU(), dd)
        self.fusion_s2 = nn.Linear(dim, score_out, bias=False, **dd)
        self.offset_s2 = _linear_act(dim, nn.Tanh(), dd)
        self.last_indices: Optional[torch.Tensor] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``init="release"``: trunc_normal(std=0.02) weights, zero biases (as the official module).

        ``init="identity"`` (paper variant): step 2 starts as W_e = K I, W_f1 = 0 (w_i = 1/K), W_o1 = I, zero biases,
        so a_i = F_a + tanh(F_a + GELU(K (mu_i - F_a)) / K) ~ F_a + tanh(max(mu_i, F_a)) channel-wise: the K tokens
        differ from the first step wherever a class centroid exceeds F_a. Step 3 keeps the release initialisation
        (eq. 12 starts near the identity). Meant for unit-scale features (a normalised audio encoder); with large
        non-negative features the tanh saturates and the tokens start alike (docs/design.md, eqs. 5-8).

        ``init="rep_gate"`` (paper variant): step 2 as the release, step 3 starts as W_d = I, W_f2 = 0 (uniform
        weights over the valid reps), W_o2 = I, b_o2 = -1, b_d = 0: a^_i = a_i * (1 + tanh(mean_j GELU(x_ij - a_i)
        - 1)), i.e. eq. 12 gates each channel of the token up (to ~1.76x) where the selected class's reps exceed it
        and down (to about 0.2x) elsewhere, so the K tokens start apart along their classes' own directions.
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.init == "identity":
            eye = torch.eye(self.dim, device=self.fusion_s1.weight.device, dtype=self.fusion_s1.weight.dtype)
            with torch.no_grad():
                self.edge_fc_s1[0].weight.copy_(self.num_neighbors * eye)
                self.fusion_s1.weight.zero_()
                self.offset_s1[0].weight.copy_(eye)
        elif self.init == "rep_gate":
            eye = torch.eye(self.dim, device=self.fusion_s2.weight.device, dtype=self.fusion_s2.weight.dtype)
            with torch.no_grad():
                self.edge_fc_s2[0].weight.copy_(eye)
                self.fusion_s2.weight.zero_()
                self.offset_s2[0].weight.copy_(eye)
                self.offset_s2[0].bias.fill_(-1.0)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_neighbors={self.num_neighbors}, variant={self.variant!r}, "
            f"step3={self.step3}, enabled={self.enabled}"
            + ("" if self.tokens == "derived" else f", tokens={self.tokens!r}")
            + ("" if self.init == "release" else f", init={self.init!r}")
        )

    # ------------------------------------------------------------------ selection
    def select(self, audio: torch.Tensor, memory: SemanticMemory) -> torch.Tensor:
        """Indices [N, K] of the K nearest present class centroids (Euclidean, fp32)."""
        dist = torch.cdist(audio.float(), memory.centroids.float())  # [N, C]
        dist = dist.masked_fill(~memory.class_mask[None, :], float("inf"))
        return torch.topk(dist, self.num_neighbors, dim=1, largest=False).indices

    # ------------------------------------------------------------------ forward
    def forward(self, audio: torch.Tensor, memory: SemanticMemory) -> torch.Tensor:
        """audio [N, d] -> derived tokens [N, K, d]."""
        if audio.ndim != 2 or audio.shape[1] != self.dim:
            raise ValueError(f"DynamicDerivation: audio must be [N, {self.dim}], got {tuple(audio.shape)}")
        if not isinstance(memory, SemanticMemory):
            raise TypeError(f"DynamicDerivation: memory must be a SemanticMemory, got {type(memory).__name__}")
        if memory.dim != self.dim:
            raise ValueError(f"DynamicDerivation: memory dim {memory.dim} does not match module dim {self.dim}")
        K = self.num_neighbors
        if not self.enabled:
            self.last_indices = None
            return audio[:, None, :].expand(-1, K, -1).clone()
        # eager: exact checks on the buffers; under torch.compile, CUDA graph capture or on meta (host_sync.py): the
        # memory's cached Python summary
        present = memory.num_present if values_readable(audio, memory.class_mask) else memory.present_count
        if present < K:
            raise ValueError(f"DynamicDerivation: num_neighbors={K} but the memory has only {present} present classes")
        idx = self.select(audio, memory)
        self.last_indices = idx
        centroids = memory.centroids.to(audio.dtype)
        if self.tokens != "derived":
            return self._diagnostic_tokens(audio, centroids, idx)
        reps = memory.reps.to(audio.dtype)
        if self.variant == "paper":
            return self._forward_paper(audio, centroids, reps, memory.rep_mask, idx)
        return self._forward_official(audio, centroids, reps, memory.rep_mask, idx)

    def _diagnostic_tokens(self, fa, centroids, idx):
        mu = centroids[idx]  # [N, K, d]
        if self.tokens == "centroids":
            return mu
        if self.tokens == "audio_plus_centroids":
            return fa[:, None, :] + mu
        return torch.cat([fa[:, None, :], mu[:, :-1]], dim=1)  # audio_and_centroids

    def _forward_paper(self, fa, centroids, reps, rep_mask, idx):
        N, d = fa.shape
        K = idx.shape[1]
        lin_e, lin_o1 = self.edge_fc_s1[0], self.offset_s1[0]
        # eqs. 5-6: weighted inter-class edges e^_i [N, K, d]
        e_hat = edge_aggregate(
            fa,
            centroids[:, None, :],
            idx,
            lin_e.weight,
            lin_e.bias,
            self.fusion_s1.weight[0],
            False,
            backend=self.backend,
            # W_e mu_c projected once per (memory, weight) version; reused across eval forwards
            memory_proj=cached_projection(self, "s1", centroids[:, None, :], lin_e.weight),
        )
        # eqs. 7-8: additive compensation
        a = fa[:, None, :] + torch.tanh(lin_o1(fa[:, None, :] + e_hat))  # [N, K, d]
        if not self.step3:
            return a
        # eqs. 9-10: weighted sum of intra-class edges over the selected class's reps
        q = a.reshape(N * K, d)
        cls = idx.reshape(N * K, 1)
        lin_d = self.edge_fc_s2[0]
        e2 = edge_aggregate(
            q,
            reps,
            cls,
            lin_d.weight,
            lin_d.bias,
            self.fusion_s2.weight[0],
            True,
            backend=self.backend,
            memory_proj=cached_projection(self, "s2", reps, lin_d.weight),
            entry_mask=rep_mask,  # invalid rep slots get softmax weight 0
        )
        # eqs. 11-12: multiplicative refinement
        delta = torch.tanh(self.offset_s2[0](e2))
        return (q * (1 + delta)).reshape(N, K, d)

    def _forward_official(self, fa, centroids, reps, rep_mask, idx):
        # step 2: per-channel softmax over the K neighbours, (1 + tanh) gate of F_a
        mu = centroids[idx]  # [N, K, d]
        e = self.edge_fc_s1(mu - fa[:, None, :])
        e = e * torch.softmax(self.fusion_s1(e), dim=1)
        a1 = (1 + self.offset_s1(fa[:, None, :] + e)) * fa[:, None, :]  # [N, K, d]
        if not self.step3:
            return a1
        # step 3: per-channel softmax over the rep entries, gate per entry, sum over entries
        x = reps[idx]  # [N, K, R, d]
        valid = rep_mask[idx]  # [N, K, R]
        e2 = self.edge_fc_s2(x - a1[:, :, None, :])
        w2 = self.fusion_s2(e2).masked_fill(~valid[..., None], float("-inf"))
        e2 = e2 * torch.softmax(w2, dim=2)
        a2 = (1 + self.offset_s2(a1[:, :, None, :] + e2)) * a1[:, :, None, :]
        return (a2 * valid[..., None].to(a2.dtype)).sum(dim=2)
