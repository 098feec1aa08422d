"""PVT-v2 (timm) visual backbone with audio-visual fusion inserted between its stages (paper §4.1 alternative).

The paper reports DDESeg with a PVT-v2-B5 encoder but does not describe where fusion goes in it. Interpretation:
PVT-v2-B5 has exactly MiT-B5's geometry, so we keep timm's ``PyramidVisionTransformerV2`` untouched (its keys, and
AVSBench's ``pvt_v2_b5.pth`` through timm's own ``checkpoint_filter_fn``, load into ``pvt.*``) and insert, after
every stage l, ``fusion_depth`` AudioQueryFusionBlocks (default 1) that consume that stage's output::

    V^l   = pvt.stages[l-1](x)                              # [B, C_l, H_l, W_l] -> tokens [B, H_l*W_l, C_l]
    P^l   = aud_projs[l-1](A^(l-1));  T^l = DEM_l(P^l, V^l) (l > 1), T^1 = P^1;  A^l = S^l * A^(l-1)
    x     = fusion{l}[j](V^l, (H_l, W_l), T^l) for j        # fused map, fed to the head and to stage l+1

Shapes: image ``[B, 3, H, W]``, tokens ``[B, K, d_audio]`` -> four maps ``[B, C_l, H/2^(l+1), W/2^(l+1)]``.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .encoder import MiTGeometry
from .stage_parts import AudioProjection, eliminate

__all__ = ["PVTFusionEncoder"]


class PVTFusionEncoder(nn.Module):
    """timm PVT-v2 + per-stage audio projections, DEMs and fusion blocks.

    Args:
        geometry: ``"pvt_v2_b5"`` (= MiT-B5 widths/depths), another MiT preset name or a geometry dict.
        audio_dim: d_audio.
        elimination: DynamicElimination kwargs (``stage1=True`` adds a DEM at stage 1).
        fusion: extra AudioQueryFusionBlock kwargs.
        fusion_depth: fusion blocks inserted after each stage.
        proj_hidden_ratio: hidden ratio of the audio projections.
    """

    #: key format of the visual checkpoints this encoder loads (``converters.load_encoder_pretrained`` asks it)
    checkpoint_format = "timm_pvt_v2"

    def __init__(
        self,
        geometry: str | Mapping[str, Any] | MiTGeometry = "pvt_v2_b5",
        audio_dim: int = 768,
        elimination: Mapping[str, Any] | None = None,
        fusion: Mapping[str, Any] | None = None,
        fusion_depth: int = 1,
        proj_hidden_ratio: int = 4,
    ) -> None:
        super().__init__()
        from timm.models.pvt_v2 import PyramidVisionTransformerV2

        from .elimination import DynamicElimination
        from .fusion import AudioQueryFusionBlock

        if geometry == "pvt_v2_b5":
            geometry = "mit_b5"
        g = MiTGeometry.from_spec(geometry)
        if g.patch_sizes != (7, 3, 3, 3) or g.strides != (4, 2, 2, 2):
            raise ValueError("PVTFusionEncoder: timm PVT-v2 has fixed patch sizes 7/3/3/3 and strides 4/2/2/2")
        self.geometry = g
        self.embed_dims = list(g.embed_dims)
        self.audio_dim = audio_dim
        self.pvt = PyramidVisionTransformerV2(
            in_chans=g.in_chans,
            num_classes=0,
            depths=tuple(g.depths),
            embed_dims=tuple(g.embed_dims),
            num_heads=tuple(g.num_heads),
            mlp_ratios=tuple(g.mlp_ratios),
            sr_ratios=tuple(g.sr_ratios),
            qkv_bias=g.qkv_bias,
            drop_path_rate=g.drop_path_rate,
        )
        elimination = dict(elimination or {})
        first = 0 if elimination.pop("stage1", False) else 1
        self.dem_stages = list(range(first, 4))
        for i in range(4):
            blocks = nn.ModuleList(
                AudioQueryFusionBlock(
                    g.embed_dims[i],
                    g.num_heads[i],
                    sr_ratio=g.sr_ratios[i],
                    mlp_ratio=g.mlp_ratios[i],
                    qkv_bias=g.qkv_bias,
                    norm_eps=g.norm_eps,
                    **dict(fusion or {}),
                )
                for _ in range(fusion_depth)
            )
            setattr(self, f"fusion{i + 1}", blocks)
        self.aud_projs = nn.ModuleList(AudioProjection(audio_dim, c, proj_hidden_ratio) for c in g.embed_dims)
        self.dems = nn.ModuleDict({str(i): DynamicElimination(g.embed_dims[i], **elimination) for i in self.dem_stages})
        self.last_scores: list[torch.Tensor] = []

    def new_keys(self) -> list[str]:
        """State-dict keys not provided by a PVT-v2 checkpoint (everything outside ``pvt.``)."""
        return [k for k in self.state_dict() if not k.startswith("pvt.")]

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> list[torch.Tensor]:
        """``image [B, 3, H, W]``, ``tokens [B, K, d_audio]`` -> four fused maps ``[B, C_l, H_l, W_l]``."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.audio_dim or tokens.shape[0] != image.shape[0]:
            raise ValueError(
                f"PVTFusionEncoder: tokens must be [B={image.shape[0]}, K, {self.audio_dim}], got {tuple(tokens.shape)}"
            )
        x = self.pvt.patch_embed(image)  # [B, H, W, C] (timm layout)
        audio = tokens
        outs, scores = [], []
        for i, stage in enumerate(self.pvt.stages):
            x = stage(x)  # [B, C_l, H_l, W_l]
            b, c, h, w = x.shape
            v = x.flatten(2).transpose(1, 2)
            proj = self.aud_projs[i](audio)
            if i in self.dem_stages:
                proj, audio, s = eliminate(self.dems[str(i)], proj, v, audio)
                scores.append(s)
            for blk in getattr(self, f"fusion{i + 1}"):
                v = blk(v, (h, w), proj)
            x = v.transpose(1, 2).reshape(b, c, h, w)
            outs.append(x)
        self.last_scores = scores
        return outs
