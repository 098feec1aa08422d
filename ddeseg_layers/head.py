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
(at 224 px, official stride 2: ~60 GFLOP less per image and no [B, 4E, 112, 112] buffer). The stage terms are
summed in place into the stage-1 product. What follows (BatchNorm, ReLU, Dropout2d, ``linear_pred``) runs as one
autograd function, :class:`_BNReLUDropPred`, on the E-channel map ``f`` at stage-1 resolution:

* Dropout2d multiplies channel c of image b by m_bc (0 or 1 / (1 - p), drawn exactly as ``F.dropout2d`` draws it);
  ``linear_pred`` is linear in its channels, so the mask is folded into a per-image weight ``W diag(m_b)`` instead
  of scaling the [B, E, H, W] map (forward and backward);
* in training-mode BatchNorm the conv bias ``sum_l W_l b_l`` (a per-channel constant) cancels; it enters the
  running mean only, and its gradient is exactly zero (the literal head gets float rounding there);
* only ``f`` is kept for backward: the normalised, rectified map is recomputed there instead of being stored (two
  [B, E, H, W] buffers less than BatchNorm -> ReLU -> Dropout2d -> conv keep).

When a forward or backward hook is registered on one of those modules (``linear_fuse.bn`` / ``.act``,
``dropout``, ``linear_pred``), or the activation is not a ReLU, the modules run as such, so hooks see their calls.

Same parameters, running statistics, dropout random stream and gradients up to float rounding (tests:
``tests/ddeseg_layers/test_model_speedpaths.py``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .mit_blocks import has_hooks

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
        x = None
        for i in (0, 1, 2, 3):  # stage 1 first: its product at full resolution is the buffer the others add into
            proj = getattr(self, f"linear_c{i + 1}").proj
            w_l = conv_w[:, (3 - i) * e : (4 - i) * e]  # [E, E]
            bias = w_l @ proj.bias if bias is None else bias + w_l @ proj.bias
            fi = feats[i]
            hi, wi = fi.shape[-2:]
            # [B, C, h, w] -> tokens [B, h*w, C] (a view when the map is channels_last, as the encoder returns it)
            z = F.linear(fi.flatten(2).transpose(1, 2), w_l @ proj.weight)  # [B, h*w, E]
            if i == 0:
                x = z  # tokens of f at stage-1 resolution
                continue
            z = z.view(b, hi, wi, e).permute(0, 3, 1, 2)  # channels_last [B, E, h, w]
            z = F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)
            x = x.add_(z.permute(0, 2, 3, 1).reshape(b, h * w, e))  # in place (add's backward needs neither operand)
        tail = (self.linear_fuse.bn, self.linear_fuse.act, self.dropout, self.linear_pred)
        if not isinstance(self.linear_fuse.act, nn.ReLU) or has_hooks(*tail):
            # a replaced activation, or hooks that expect the modules to run: the modules, literally
            f = (x + bias).view(b, h, w, e).permute(0, 3, 1, 2)
            return self.linear_pred(self.dropout(self.linear_fuse.act(self.linear_fuse.bn(f))))
        return _bn_relu_drop_pred(self, x, bias).view(b, -1, h, w)


def _dropout2d_scale(x: torch.Tensor, p: float) -> torch.Tensor:
    """``[B, C]`` channel multipliers of ``F.dropout2d`` on a ``[B, C, H, W]`` map (``x`` gives B, C, dtype and
    device), drawn as ATen's ``feature_dropout`` draws them (the same values from the same random state)."""
    if p >= 1.0:
        return x.new_zeros(x.shape[:2])
    return torch.empty(x.shape[0], x.shape[1], 1, 1, dtype=x.dtype, device=x.device).bernoulli_(1 - p).div_(1 - p)[
        :, :, 0, 0
    ]


def _bn_relu_drop_pred(head: SegFormerHead, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``linear_pred(Dropout2d(ReLU(BN(f + bias))))`` on the tokens ``x [B, N, E]`` of ``f`` (module docstring),
    with the head's modules' parameters, buffers and modes; returns logits ``[B, num_classes, N]``."""
    bn, pred, drop = head.linear_fuse.bn, head.linear_pred, head.dropout
    scale = _dropout2d_scale(x.transpose(1, 2), drop.p) if drop.training and drop.p > 0 else None
    batch_stats = bn.training or bn.running_mean is None
    momentum = 0.0
    if bn.training and bn.track_running_stats and bn.running_mean is not None:
        bn.num_batches_tracked.add_(1)
        momentum = (1.0 / float(bn.num_batches_tracked)) if bn.momentum is None else bn.momentum
    return _BNReLUDropPred.apply(
        x, bias, bn.weight, bn.bias, pred.weight.flatten(1), pred.bias, scale,
        bn.running_mean, bn.running_var, batch_stats, momentum, bn.eps,
    )


class _BNReLUDropPred(torch.autograd.Function):
    """Tokens ``x [B, N, E]`` (+ per-channel ``bias [E]``) -> BatchNorm -> ReLU -> channel scale ``[B, E]``
    (Dropout2d's mask, or None) -> ``W [K, E]``, ``b_pred [K]``; output ``[B, K, N]``. Keeps ``x`` and per-channel
    statistics only. BatchNorm's weight / bias may be None (``affine=False``). With ``batch_stats`` the batch's
    statistics normalise and the running ones (when given) move by ``momentum``; otherwise the running ones
    normalise. BatchNorm's own kernels run on the ``[B * N, E]`` view of the tokens."""

    @staticmethod
    def forward(ctx, x, bias, gamma, beta, weight, pred_bias, scale, running_mean, running_var, batch_stats, momentum,
                eps):
        b, n, e = x.shape
        flat = x.view(b * n, e)
        if batch_stats:
            # BN(f + bias) = BN(f) with batch statistics; the running mean moves towards mean(f) + bias
            r, mean, invstd = torch.ops.aten.native_batch_norm(
                flat, gamma, beta, running_mean, running_var, True, momentum, eps
            )
            if running_mean is not None and momentum > 0:
                running_mean.add_(bias, alpha=momentum)
            var = None
        else:
            mean, var = running_mean - bias, running_var
            r, _, _ = torch.ops.aten.native_batch_norm(flat, gamma, beta, mean, var, False, 0.0, eps)
            invstd = torch.rsqrt(var + eps)
        r = r.relu_().view(b, n, e)
        w_b = weight if scale is None else weight[None] * scale[:, None, :]  # [K, E] or [B, K, E]
        y = torch.matmul(w_b, r.transpose(1, 2))  # [B, K, N]
        if pred_bias is not None:
            y.add_(pred_bias[:, None])
        ctx.save_for_backward(x, mean, var, invstd, gamma, beta, w_b, scale)
        ctx.batch_stats, ctx.eps = batch_stats, eps
        ctx.has = (gamma is not None, beta is not None, pred_bias is not None)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, mean, var, invstd, gamma, beta, w_b, scale = ctx.saved_tensors
        has_gamma, has_beta, has_pred_bias = ctx.has
        b, n, e = x.shape
        mul = invstd if gamma is None else gamma * invstd
        shift = -mean * mul if beta is None else beta - mean * mul
        # recomputed [B, N, E], in the dtype the forward's map had (bf16 / fp16 under autocast or a low-precision model)
        r = torch.addcmul(shift, x, mul).relu_().to(x.dtype)
        gy, w_b = gy.to(x.dtype), w_b.to(x.dtype)
        g_w = torch.matmul(gy, r)  # [B, K, E]: d/d(W diag(m_b)) per image
        if scale is not None:
            g_w = g_w * scale[:, None, :]
        g_weight = g_w.sum(0) if g_w.dim() == 3 else g_w
        g_pred_bias = gy.sum((0, 2)) if has_pred_bias else None
        g = torch.matmul(gy.transpose(1, 2), w_b)  # [B, N, E]: d/dr
        g = torch.ops.aten.threshold_backward(g, r, 0.0)  # ReLU: d/d(BN output)
        del r
        gx, g_gamma, g_beta = torch.ops.aten.native_batch_norm_backward(
            g.view(b * n, e), x.view(b * n, e), gamma,
            None if ctx.batch_stats else mean, var,
            mean if ctx.batch_stats else None, invstd if ctx.batch_stats else None, ctx.batch_stats, ctx.eps,
            [True, has_gamma, has_beta],
        )
        gx = gx.view(b, n, e)
        # the bias cancels in training-mode BatchNorm; with fixed statistics it shifts f
        g_bias = torch.zeros_like(mean) if ctx.batch_stats else gx.view(b * n, e).sum(0)
        return gx, g_bias, g_gamma, g_beta, g_weight, g_pred_bias, None, None, None, None, None, None
