"""SegFormer all-MLP decoder: the mask decoder ``D`` of paper eq. (1).

For the four stage maps ``c_l [B, C_l, H_l, W_l]``::

    e_l = linear_c{l}.proj(c_l)                         # per-pixel Linear C_l -> E (E = 768)
    e_l = bilinear(e_l, size of c_1, align_corners=False)
    f   = linear_fuse(cat[e_4, e_3, e_2, e_1])         # ConvModule: conv1x1 (no bias) + BatchNorm + ReLU, 4E -> E
    y   = linear_pred(Dropout2d(f))                    # conv1x1 E -> num_classes: logits [B, num_classes, H_1, W_1]

Parameter names are NVlabs SegFormerHead / released DDESeg ``SegHead`` names (``linear_c{1-4}.proj``,
``linear_fuse.{conv,bn}``, ``linear_pred``). The released code uses BatchNorm eps 1e-3 / momentum 0.03; SegFormer
(and our paper default) the PyTorch defaults 1e-5 / 0.1.

``fused=True`` (what :class:`~ddeseg_layers.model.DDESeg` builds) computes the same ``f`` without the 4E-channel
map: the per-pixel linears, the bilinear upsampling (weights summing to 1, so constants pass unchanged) and the
1x1 ``linear_fuse.conv`` are all linear, so with ``W_l`` the conv's slice for stage l (``cat`` order 4, 3, 2, 1)::

    f = sum_l bilinear((W_l P_l) c_l) + sum_l W_l b_l          # P_l, b_l = linear_c{l}.proj weight / bias

i.e. one C_l -> E matmul per stage at the stage's own resolution instead of a 4E -> E one at stage-1 resolution
(at 224 px, official stride 2: ~60 GFLOP less per image and no [B, 4E, 112, 112] buffer). Same parameters and
gradients up to float rounding; BatchNorm, ReLU, dropout and ``linear_pred`` follow unchanged.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SegFormerHead"]


class _LinearEmbed(nn.Module):
    """``[B, C, H, W] -> [B, E, H, W]`` through a per-pixel Linear named ``proj``."""

    def __init__(self, in_dim: int, embed_dim: int, **dd) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, embed_dim, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return self.proj(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)


class _ConvBNReLU(nn.Module):
    """mmcv-style ConvModule: ``conv`` (1x1, no bias), ``bn``, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, bn_eps: float, bn_momentum: float, **dd) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False, **dd)
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps, momentum=bn_momentum, **dd)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _PointwiseConv2d(nn.Conv2d):
    """1x1 convolution (``linear_pred``) that runs a channels_last map as one GEMM on its pixels (CPU convolutions of
    channels_last maps with 1x1 kernels take a slow im2col path) and returns a contiguous map; any other input goes
    through the convolution. A Conv2d with the same parameters (and forward hooks) either way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            y = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)  # [B, H, W, out]
            return y.permute(0, 3, 1, 2).contiguous()
        return super().forward(x)


class SegFormerHead(nn.Module):
    """All-MLP segmentation head.

    Args:
        in_channels: the four stage widths C_l.
        num_classes: output channels (C + 1 with background for AVSS/VPO; 1 for binary S4/MS3).
        embed_dim: common embedding width E (768).
        dropout: Dropout2d probability before ``linear_pred`` (0.1).
        bn_eps: BatchNorm epsilon of ``linear_fuse`` (1e-5 paper default, 1e-3 official).
        bn_momentum: BatchNorm momentum of ``linear_fuse`` (0.1 paper default, 0.03 official).
        fused: compute ``linear_fuse``'s input product stage by stage at low resolution (module docstring); the
            same function up to float rounding. False (default here) runs the literal concatenation.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        embed_dim: int = 768,
        dropout: float = 0.1,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        fused: bool = False,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if len(in_channels) != 4:
            raise ValueError(f"SegFormerHead: in_channels must list 4 stage widths, got {list(in_channels)}")
        if num_classes < 1:
            raise ValueError(f"SegFormerHead: num_classes must be >= 1, got {num_classes}")
        dd = {"device": device, "dtype": dtype}
        self.in_channels = list(in_channels)
        self.num_classes = num_classes
        self.fused = bool(fused)
        for i, c in enumerate(in_channels):
            setattr(self, f"linear_c{i + 1}", _LinearEmbed(c, embed_dim, **dd))
        self.linear_fuse = _ConvBNReLU(4 * embed_dim, embed_dim, bn_eps, bn_momentum, **dd)
        self.dropout = nn.Dropout2d(dropout)
        self.linear_pred = _PointwiseConv2d(embed_dim, num_classes, 1, **dd)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """``feats``: four maps ``[B, C_l, H_l, W_l]`` -> logits ``[B, num_classes, H_1, W_1]``."""
        if len(feats) != 4:
            raise ValueError(f"SegFormerHead: expected 4 feature maps, got {len(feats)}")
        for i, (f, c) in enumerate(zip(feats, self.in_channels)):
            if f.dim() != 4 or f.shape[1] != c:
                raise ValueError(f"SegFormerHead: feature {i + 1} must be [B, {c}, H, W], got {tuple(f.shape)}")
        if self.fused:
            return self._forward_fused(feats)
        size = feats[0].shape[-2:]
        embs = []
        for i in (3, 2, 1, 0):
            e = getattr(self, f"linear_c{i + 1}")(feats[i])
            if i:
                e = F.interpolate(e, size=size, mode="bilinear", align_corners=False)
            embs.append(e)
        return self.linear_pred(self.dropout(self.linear_fuse(torch.cat(embs, dim=1))))

    def _forward_fused(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Same as the literal forward (module docstring), one C_l -> E product per stage at its own resolution."""
        b, _, h, w = feats[0].shape
        conv_w = self.linear_fuse.conv.weight.flatten(1)  # [E, 4E], input slots ordered c4, c3, c2, c1
        e = conv_w.shape[0]
        bias = None
        f = None
        for i in (3, 2, 1, 0):
            proj = getattr(self, f"linear_c{i + 1}").proj
            w_l = conv_w[:, (3 - i) * e : (4 - i) * e]  # [E, E]
            bias = w_l @ proj.bias if bias is None else bias + w_l @ proj.bias
            fi = feats[i]
            hi, wi = fi.shape[-2:]
            # [B, C, h, w] -> tokens [B, h*w, C] (a view when the map is channels_last, as the encoder returns it)
            z = fi.flatten(2).transpose(1, 2) @ (w_l @ proj.weight).t()  # [B, h*w, E]
            z = z.view(b, hi, wi, e).permute(0, 3, 1, 2)  # channels_last [B, E, h, w]
            if i:
                z = F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)
            f = z if f is None else f + z
        f = f + bias[:, None, None]
        f = self.dropout(self.linear_fuse.act(self.linear_fuse.bn(f)))  # channels_last
        return self.linear_pred(f)
