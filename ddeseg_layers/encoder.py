"""The DDESeg visual encoder: a Mix Transformer whose stages are audio-visual fusion stages (paper eq. 1, Fig. 3a).

For stage ``l = 1..4`` with width ``C_l`` (MiT-B5: 64/128/320/512) and input visual map ``x``::

    V^l, (H_l, W_l) = patch_embed{l}(x)                    # [B, H_l*W_l, C_l]   (V^1 comes from the stem)
    P^l   = aud_projs[l-1](A^(l-1))                        # [B, K, C_l]  audio tokens projected to the stage width
    paper:    T^l = DEM_l(P^l, V^l)  (l > 1),  T^1 = P^1    # eq. (1) second line, eqs. (13)-(17)
              A^l = S^l * A^(l-1)                          # elimination scores carried on the d_audio tokens
              x = block{l}[j](x, (H_l, W_l), T^l) for j    # F_f: AudioQueryFusionBlocks (depths 3/6/40/3)
    official: x = av_aligners[l-1](V^l, P^l)               # released code: aligner, then plain MiT blocks
              x = block{l}[j](x, (H_l, W_l)) for j
    x = norm{l}(x) -> [B, C_l, H_l, W_l]                   # stage output fed to the head and to the next stage

``A^0 = A^1 = Phi_D(F_a)`` is the DDM output [B, K, d_audio]. Parameter names follow NVlabs SegFormer
(``patch_embed{n}``, ``block{n}.{j}``, ``norm{n}``) so ``mit_b5.pth`` loads after key mapping; the audio projections
(``aud_projs.{i}.{fc1,fc2}``), the DEMs (``dems.{i}``, paper) and the aligners (``av_aligners.{i}``, official) are the
new, audio-specific parameters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .mit_blocks import MiTBlock, OverlapPatchEmbed, init_mit_weights, is_mit_key, tokens_to_map
from .stage_parts import AudioProjection, drop_path_rates, eliminate

__all__ = ["MiTGeometry", "MIT_PRESETS", "MiTFusionEncoder"]


@dataclass
class MiTGeometry:
    """Geometry of a 4-stage Mix Transformer.

    Attributes:
        embed_dims: stage widths C_l.
        num_heads: attention heads per stage.
        depths: blocks per stage.
        sr_ratios: key/value spatial-reduction ratios per stage.
        mlp_ratios: Mix-FFN expansion per stage.
        patch_sizes: overlapping patch-embedding kernel sizes.
        strides: patch-embedding strides (MiT: 4/2/2/2; released DDESeg: 2/2/2/2).
        qkv_bias: bias on the q / kv projections.
        drop_path_rate: stochastic depth, linearly increasing over all blocks up to this value.
        norm_eps: LayerNorm epsilon (NVlabs MiT 1e-6, released DDESeg 1e-5).
        in_chans: image channels.
    """

    embed_dims: Sequence[int] = (64, 128, 320, 512)
    num_heads: Sequence[int] = (1, 2, 5, 8)
    depths: Sequence[int] = (3, 6, 40, 3)
    sr_ratios: Sequence[int] = (8, 4, 2, 1)
    mlp_ratios: Sequence[float] = (4, 4, 4, 4)
    patch_sizes: Sequence[int] = (7, 3, 3, 3)
    strides: Sequence[int] = (4, 2, 2, 2)
    qkv_bias: bool = True
    drop_path_rate: float = 0.1
    norm_eps: float = 1e-6
    in_chans: int = 3
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for f in ("embed_dims", "num_heads", "depths", "sr_ratios", "mlp_ratios", "patch_sizes", "strides"):
            value = tuple(getattr(self, f))
            if len(value) != 4:
                raise ValueError(f"MiTGeometry.{f} must have 4 entries (one per stage), got {value}")
            setattr(self, f, value)
        for c, h in zip(self.embed_dims, self.num_heads):
            if c % h:
                raise ValueError(f"MiTGeometry: embed_dim {c} is not divisible by num_heads {h}")

    def block_kwargs(self, stage: int, drop_path: float) -> dict[str, Any]:
        """Constructor arguments of one MiT block of ``stage`` (0-based) with stochastic depth ``drop_path``."""
        return dict(
            dim=self.embed_dims[stage],
            num_heads=self.num_heads[stage],
            mlp_ratio=self.mlp_ratios[stage],
            qkv_bias=self.qkv_bias,
            sr_ratio=self.sr_ratios[stage],
            drop_path=drop_path,
            norm_eps=self.norm_eps,
        )

    @classmethod
    def from_spec(cls, spec: str | Mapping[str, Any] | MiTGeometry, **overrides: Any) -> MiTGeometry:
        """Build from a preset name (``mit_b0``, ``mit_b1``, ``mit_b5``), a dict (optionally with ``name`` naming
        a preset to start from) or a geometry; ``overrides`` replace single fields."""
        if isinstance(spec, MiTGeometry):
            base = asdict(spec)
        elif isinstance(spec, str):
            if spec not in MIT_PRESETS:
                raise ValueError(f"unknown MiT encoder {spec!r}; known: {sorted(MIT_PRESETS)} or a geometry dict")
            base = dict(MIT_PRESETS[spec], name=spec)
        elif isinstance(spec, Mapping):
            spec = dict(spec)
            preset = spec.get("name")
            base = dict(MIT_PRESETS[preset], name=preset) if preset in MIT_PRESETS else {}
            base.update(spec)
        else:
            raise TypeError(f"encoder spec must be a preset name, a dict or a MiTGeometry, got {type(spec).__name__}")
        base.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - known)
        if unknown:
            raise ValueError(f"unknown MiT geometry keys {unknown}; allowed: {sorted(known)}")
        return cls(**base)


MIT_PRESETS: dict[str, dict[str, Any]] = {
    "mit_b0": dict(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    "mit_b1": dict(embed_dims=(64, 128, 320, 512), depths=(2, 2, 2, 2)),
    "mit_b2": dict(embed_dims=(64, 128, 320, 512), depths=(3, 4, 6, 3)),
    "mit_b5": dict(embed_dims=(64, 128, 320, 512), depths=(3, 6, 40, 3)),
}


class MiTFusionEncoder(nn.Module):
    """MiT encoder with audio-visual fusion stages (see module docstring for the data flow).

    Args:
        geometry: MiT geometry (preset name, dict or :class:`MiTGeometry`).
        audio_dim: width d_audio of the DDM tokens.
        variant: ``"paper"`` (DEM at stages l > 1 + AudioQueryFusionBlocks) or ``"official"`` (released code:
            an OfficialAVAligner after every patch embedding, then plain MiT blocks).
        elimination: DynamicElimination kwargs for the paper variant (``num_heads``, ``num_centers``, ``tau``,
            ``scheme``); ``stage1=True`` also applies a DEM at stage 1 (not in eq. 1; off by default). The official
            variant takes ``scheme`` (OfficialAVAligner ablations), ``num_heads``, ``num_centers`` and ``tau``.
        fusion: extra AudioQueryFusionBlock kwargs (paper variant).
        num_clusters: visual centres of the official aligners (5).
        aligner_heads: heads of the official aligners (8).
        proj_hidden_ratio: hidden ratio of the audio projections (4).
        checkpoint_stages: stages (1-4) whose blocks run under activation checkpointing while gradients are
            recorded (``torch.utils.checkpoint``, non-reentrant, RNG state preserved: the same values and gradients,
            less activation memory, one more forward of those blocks in backward). Default none.
    """

    #: key format of the visual checkpoints this encoder loads (``converters.load_encoder_pretrained`` asks it)
    checkpoint_format = "nvlabs_mit"

    def __init__(
        self,
        geometry: str | Mapping[str, Any] | MiTGeometry = "mit_b5",
        audio_dim: int = 768,
        variant: str = "paper",
        elimination: Mapping[str, Any] | None = None,
        fusion: Mapping[str, Any] | None = None,
        num_clusters: int = 5,
        aligner_heads: int = 8,
        proj_hidden_ratio: int = 4,
        checkpoint_stages: Sequence[int] = (),
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if variant not in ("paper", "official"):
            raise ValueError(f"MiTFusionEncoder: variant must be 'paper' or 'official', got {variant!r}")
        dd = {"device": device, "dtype": dtype}
        g = MiTGeometry.from_spec(geometry)
        self.geometry = g
        self.variant = variant
        self.embed_dims = list(g.embed_dims)
        bad = sorted(set(checkpoint_stages) - {1, 2, 3, 4})
        if bad:
            raise ValueError(f"MiTFusionEncoder: checkpoint_stages must be stage numbers 1-4, got {bad}")
        self.checkpoint_stages = tuple(sorted(set(int(i) for i in checkpoint_stages)))
        self.audio_dim = audio_dim
        elimination = dict(elimination or {})
        self.dem_stage1 = bool(elimination.pop("stage1", False))
        fusion = dict(fusion or {})

        dpr = drop_path_rates(g.drop_path_rate, sum(g.depths))
        cur = 0
        for i in range(4):
            in_ch = g.in_chans if i == 0 else g.embed_dims[i - 1]
            pe = OverlapPatchEmbed(g.patch_sizes[i], g.strides[i], in_ch, g.embed_dims[i], g.norm_eps, **dd)
            setattr(self, f"patch_embed{i + 1}", pe)
            blocks = []
            for j in range(g.depths[i]):
                kw = g.block_kwargs(i, dpr[cur + j])
                if variant == "paper":
                    from .fusion import AudioQueryFusionBlock

                    blocks.append(AudioQueryFusionBlock(**kw, **fusion))
                else:
                    blocks.append(MiTBlock(**kw, **dd))
            setattr(self, f"block{i + 1}", nn.ModuleList(blocks))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(g.embed_dims[i], eps=g.norm_eps, **dd))
            cur += g.depths[i]
            pe.apply(init_mit_weights)  # blocks initialise themselves (SegFormer init)

        self.aud_projs = nn.ModuleList(AudioProjection(audio_dim, c, proj_hidden_ratio, **dd) for c in g.embed_dims)
        if variant == "paper":
            from .elimination import DynamicElimination

            first = 0 if self.dem_stage1 else 1
            self.dem_stages = list(range(first, 4))
            self.dems = nn.ModuleDict(
                {str(i): DynamicElimination(g.embed_dims[i], **elimination) for i in self.dem_stages}
            )
        else:
            from .fusion import OfficialAVAligner

            unknown = sorted(set(elimination) - {"scheme", "num_heads", "num_centers", "tau"})
            if unknown:
                raise ValueError(
                    f"MiTFusionEncoder: variant='official' takes elimination keys scheme, num_heads, num_centers, tau; "
                    f"got {unknown}"
                )
            heads = int(elimination.get("num_heads", aligner_heads))
            centres = int(elimination.get("num_centers", num_clusters))
            extra = {k: elimination[k] for k in ("scheme", "tau") if k in elimination}
            self.dem_stages = list(range(4))
            self.av_aligners = nn.ModuleList(
                OfficialAVAligner(c, num_heads=heads, num_clusters=centres, **extra) for c in g.embed_dims
            )
        self.last_scores: list[torch.Tensor] = []

    def new_keys(self) -> list[str]:
        """State-dict keys that no visual-only checkpoint provides (audio projections, DEMs, aligners, audio
        parts of the fusion blocks): reported as ``allow_missing`` when loading MiT weights."""
        return [k for k in self.state_dict() if not is_mit_key(k)]

    def new_key_patterns(self) -> list[str]:
        """:meth:`new_keys` folded into fnmatch patterns over the block index (``block3.*.cross_attn.q.weight``)."""
        return sorted({re.sub(r"^(block\d+)\.\d+\.", r"\1.*.", k) for k in self.new_keys()})

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Run the four fusion stages.

        Args:
            image: ``[B, 3, H, W]`` normalised image.
            tokens: ``[B, K, d_audio]`` DDM output ``A^1``.

        Returns:
            Four stage features ``[B, C_l, H_l, W_l]``. ``self.last_scores`` holds the per-stage DEM scores
            ``[B, K]`` (paper: stages 2-4, or 1-4 with ``stage1=True``; official: the aligners' scores when they
            expose ``last_scores``).
        """
        if image.dim() != 4:
            raise ValueError(f"MiTFusionEncoder: image must be [B, C, H, W], got shape {tuple(image.shape)}")
        if tokens.dim() != 3 or tokens.shape[0] != image.shape[0] or tokens.shape[-1] != self.audio_dim:
            raise ValueError(
                f"MiTFusionEncoder: tokens must be [B={image.shape[0]}, K, {self.audio_dim}], got {tuple(tokens.shape)}"
            )
        x = image
        audio = tokens  # A^(l-1), carried in d_audio space
        outs, scores = [], []
        for i in range(4):
            x, hw = getattr(self, f"patch_embed{i + 1}")(x)  # V^l  [B, H_l*W_l, C_l]
            proj = self.aud_projs[i](audio)  # [B, K, C_l]
            if self.variant == "paper":
                if i in self.dem_stages:
                    proj, audio, s = eliminate(self.dems[str(i)], proj, x, audio)
                    scores.append(s)
                for blk in getattr(self, f"block{i + 1}"):
                    x = self._run_block(i, blk, x, hw, proj)
            else:
                aligner = self.av_aligners[i]
                x = aligner(x, proj)
                s = getattr(aligner, "last_scores", None)
                if s is not None:
                    scores.append(s)
                for blk in getattr(self, f"block{i + 1}"):
                    x = self._run_block(i, blk, x, hw)
            x = getattr(self, f"norm{i + 1}")(x)
            x = tokens_to_map(x, hw)  # [B, C_l, H_l, W_l], channels_last view of the tokens (no copy)
            outs.append(x)
        self.last_scores = scores
        return outs

    def _run_block(self, stage: int, blk: nn.Module, x: torch.Tensor, hw: tuple[int, int], *args) -> torch.Tensor:
        if stage + 1 in self.checkpoint_stages and torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(blk, x, hw, *args, use_reentrant=False)
        return blk(x, hw, *args)
