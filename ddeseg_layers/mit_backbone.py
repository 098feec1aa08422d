"""``MiTBackbone``: the plain (visual-only) Mix Transformer, with the NVlabs MiT state-dict keys.

No paper equation of DDESeg: it is SegFormer's encoder (Xie et al. 2021), the visual half of
:class:`~ddeseg_layers.encoder.MiTFusionEncoder` without any audio part. It exists to *pre-train* a fusion
encoder's visual weights (the analogue of the paper's ImageNet-pre-trained MiT for encoders trained from scratch,
e.g. on an image-only synthetic set): its ``state_dict`` uses the keys of an NVlabs MiT checkpoint
(``patch_embed{l}.*``, ``block{l}.{j}.*``, ``norm{l}.*``), so
:func:`~ddeseg_layers.converters.load_encoder_pretrained` loads it into a fusion encoder of the same geometry, paper
or official variant, leaving only the audio-specific parameters at their initialisation.

Shapes: image ``[B, 3, H, W]`` -> four maps ``[B, C_l, H / s_l, W / s_l]`` (s = 4, 8, 16, 32 for the MiT strides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .encoder import MiTGeometry
from .mit_blocks import MiTBlock, OverlapPatchEmbed, init_mit_weights
from .stage_parts import drop_path_rates

__all__ = ["MiTBackbone"]


class MiTBackbone(nn.Module):
    """Four MiT stages (overlapping patch embedding, MiT blocks, LayerNorm); no audio.

    Args:
        geometry: MiT geometry (preset name such as ``"mit_b0"``, a dict or a
            :class:`~ddeseg_layers.encoder.MiTGeometry`), the same spec a fusion encoder takes.
    """

    checkpoint_format = "nvlabs_mit"

    def __init__(self, geometry: str | Mapping[str, Any] | MiTGeometry = "mit_b0", *, device=None, dtype=None):
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        g = MiTGeometry.from_spec(geometry)
        self.geometry = g
        self.embed_dims = list(g.embed_dims)
        dpr = drop_path_rates(g.drop_path_rate, sum(g.depths))
        cur = 0
        for i in range(4):
            in_ch = g.in_chans if i == 0 else g.embed_dims[i - 1]
            pe = OverlapPatchEmbed(g.patch_sizes[i], g.strides[i], in_ch, g.embed_dims[i], g.norm_eps, **dd)
            pe.apply(init_mit_weights)
            setattr(self, f"patch_embed{i + 1}", pe)
            blocks = [MiTBlock(**g.block_kwargs(i, dpr[cur + j]), **dd) for j in range(g.depths[i])]
            setattr(self, f"block{i + 1}", nn.ModuleList(blocks))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(g.embed_dims[i], eps=g.norm_eps, **dd))
            cur += g.depths[i]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """``image [B, C, H, W]`` -> four stage maps ``[B, C_l, H_l, W_l]``."""
        if image.dim() != 4:
            raise ValueError(f"MiTBackbone: image must be [B, C, H, W], got shape {tuple(image.shape)}")
        x, outs = image, []
        for i in range(4):
            x, hw = getattr(self, f"patch_embed{i + 1}")(x)
            for blk in getattr(self, f"block{i + 1}"):
                x = blk(x, hw)
            x = getattr(self, f"norm{i + 1}")(x)
            x = x.transpose(1, 2).reshape(x.shape[0], -1, hw[0], hw[1])
            outs.append(x)
        return outs
