"""Plain Mix Transformer (MiT / SegFormer) building blocks with NVlabs parameter names.

These are the visual-only parts of the DDESeg encoder (Xie et al., SegFormer, NeurIPS 2021), used as-is by the
``variant="official"`` encoder (the released DDESeg code runs plain MiT blocks after each audio-visual aligner) and as
the reference geometry for the paper variant's :class:`~ddeseg_layers.fusion.AudioQueryFusionBlock`.

Parameter names follow NVlabs ``mix_transformer.py`` so that ``mit_b5.pth`` loads without renaming:

* :class:`OverlapPatchEmbed`: ``proj`` (Conv2d k x k, stride s, padding k // 2), ``norm`` (LayerNorm).
  ``[B, C_in, H, W] -> ([B, H' * W', C], (H', W'))``.
* :class:`EfficientSelfAttention`: ``q``, ``kv``, ``sr`` + ``norm`` (only when ``sr_ratio > 1``), ``proj``.
  ``[B, N, C] -> [B, N, C]``; keys/values are spatially reduced by ``sr_ratio`` (SegFormer eq. 2), optionally
  followed by extra key/value tokens (the paper variant's fusion block appends its audio tokens there).
* :class:`MixFFN`: ``fc1``, ``dwconv.dwconv`` (3x3 depth-wise), ``fc2``; ``[B, N, C] -> [B, N, C]``.
* :class:`MiTBlock`: ``norm1``, ``attn``, ``norm2``, ``mlp`` with pre-norm residuals and stochastic depth.
* :func:`is_mit_key` (with ``MIT_BLOCK_KEYS``, ``MIT_BLOCK_KEY_PATTERN``): whether an encoder state-dict key is a
  plain MiT parameter (what a visual-only checkpoint provides); the converters and the encoders ask it.
"""

from __future__ import annotations

import contextlib
import math
import re

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

#: parameter-name prefixes (inside ``block{n}.{j}.``) that a visual-only MiT checkpoint provides
MIT_BLOCK_KEYS = (
    "norm1.",
    "attn.q.",
    "attn.kv.",
    "attn.sr.",
    "attn.norm.",
    "attn.proj.",
    "norm2.",
    "mlp.fc1.",
    "mlp.dwconv.dwconv.",
    "mlp.fc2.",
)
_MIT_STAGE_KEY = re.compile(r"^(patch_embed[1-4]\.(proj|norm)\.|norm[1-4]\.)")
MIT_BLOCK_KEY_PATTERN = re.compile(r"^block([1-4])\.(\d+)\.(.*)$")


def is_mit_key(key: str) -> bool:
    """True if ``key`` (an encoder state-dict key) is a parameter of a plain NVlabs MiT."""
    if _MIT_STAGE_KEY.match(key):
        return True
    m = MIT_BLOCK_KEY_PATTERN.match(key)
    return bool(m) and m.group(3).startswith(MIT_BLOCK_KEYS)


def tokens_to_map(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Tokens ``[B, H*W, C]`` -> map ``[B, C, H, W]`` in channels_last memory format (a view when ``x`` is
    contiguous, as every token tensor of the encoder is); a convolution keeps the format, so its output flattens
    back to contiguous tokens with ``flatten(2).transpose(1, 2)``, again without a copy."""
    b, _, c = x.shape
    return x.reshape(b, hw[0], hw[1], c).permute(0, 3, 1, 2)


def init_mit_weights(m: nn.Module) -> None:
    """SegFormer initialisation: trunc-normal(0.02) Linear, unit LayerNorm, He-normal(fan-out) Conv2d."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class OverlapPatchEmbed(nn.Module):
    """Overlapping patch embedding: strided Conv2d then LayerNorm over channels.

    Args:
        patch_size: convolution kernel size (7 for stage 1, 3 after).
        stride: convolution stride (4 for MiT stage 1, 2 for the released DDESeg stage 1, 2 after).
        in_chans: input channels.
        embed_dim: output channels C.
        norm_eps: LayerNorm epsilon (1e-6 NVlabs MiT, 1e-5 official DDESeg).
    """

    def __init__(
        self,
        patch_size: int = 7,
        stride: int = 4,
        in_chans: int = 3,
        embed_dim: int = 64,
        norm_eps: float = 1e-6,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=stride, padding=patch_size // 2, **dd)
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps, **dd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        # channels_last in and out: the convolution's output flattens to [B, H'*W', C] tokens without a copy
        x = self.proj(x.contiguous(memory_format=torch.channels_last))
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (h, w)


class EfficientSelfAttention(nn.Module):
    """SegFormer efficient self-attention with spatial reduction of keys and values.

    Args:
        dim: channels C.
        num_heads: attention heads (C must be divisible by it).
        qkv_bias: bias on ``q`` / ``kv``.
        sr_ratio: spatial-reduction ratio R (a strided R x R conv + LayerNorm on the key/value map when R > 1).
        norm_eps: epsilon of the reduction LayerNorm (:class:`MiTBlock` passes its own ``norm_eps``; the paper
            variant's :class:`~ddeseg_layers.fusion.AudioQueryFusionBlock` passes 1e-5, NVlabs' ``nn.LayerNorm(dim)``).
        attn_drop, proj_drop: dropouts.

    ``forward(x, hw, extra=None)``: optional extra key/value tokens (the fusion block's audio tokens).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 1,
        qkv_bias: bool = True,
        sr_ratio: int = 1,
        norm_eps: float = 1e-6,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"EfficientSelfAttention: dim {dim} is not divisible by num_heads {num_heads}")
        dd = {"device": device, "dtype": dtype}
        self.num_heads = num_heads
        self.sr_ratio = sr_ratio
        self.attn_drop = attn_drop
        self.q = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias, **dd)
        self.proj = nn.Linear(dim, dim, **dd)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio, **dd)
            self.norm = nn.LayerNorm(dim, eps=norm_eps, **dd)

    def forward(self, x: torch.Tensor, hw: tuple[int, int], extra: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, N, C] (normalised), hw = (H, W) -> [B, N, C].

        ``extra`` [B, K, C] (already normalised; the fusion block's audio tokens) is appended to the reduced
        key/value sequence before the shared ``kv`` projection; None or K = 0 is plain MiT attention.
        """
        q = self.q(x)
        return self._attend(q, self.norm(self.reduce(x, hw)) if self.sr_ratio > 1 else x, extra)

    def forward_normed(self, x: torch.Tensor, norm: nn.LayerNorm, hw: tuple[int, int]) -> torch.Tensor:
        """``self(norm(x), hw)``. While gradients are recorded and R > 1 divides H and W, ``norm``, ``q`` and the
        spatial reduction run as one autograd function that keeps ``x`` instead of ``norm(x)`` and its gathered
        patches (:class:`_NormQReduce`); under autocast (float32 ``x`` and norm) the LayerNorm runs in float32 and the
        two products in the autocast dtype, as the modules would. With hooks on ``norm``, ``q`` or ``sr`` the modules
        run as such."""
        r, (h, w) = self.sr_ratio, hw
        if (
            torch.is_grad_enabled()
            and _fusable_under_autocast(x, norm)
            and r > 1
            and h % r == 0
            and w % r == 0
            and isinstance(norm, nn.LayerNorm)
            and len(norm.normalized_shape) == 1
            and not has_hooks(norm, self.q, self.sr)
        ):
            dt = _autocast_dtype(x)
            with _autocast_off(x, dt):
                q, red = _NormQReduce.apply(
                    x,
                    norm.weight,
                    norm.bias,
                    norm.eps,
                    _cast(self.q.weight, dt),
                    _cast(self.q.bias, dt),
                    _cast(self._sr_rows(), dt),
                    _cast(self.sr.bias, dt),
                    hw,
                    r,
                )
            return self._attend(q, self.norm(red), None)
        return self(norm(x), hw)

    def _attend(self, q: torch.Tensor, y: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Projected queries [B, N, C], key/value tokens y [B, M, C] (+ extra) -> attention output [B, N, C]."""
        b, n, c = q.shape
        h = self.num_heads
        q = q.reshape(b, n, h, c // h).transpose(1, 2)
        if extra is not None and extra.shape[1] > 0:
            y = torch.cat([y, extra], dim=1)
        k, v = self.kv(y).reshape(b, -1, 2, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))

    def reduce(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """The spatial reduction ``sr`` (R x R convolution, stride R) of tokens [B, H*W, C] -> [B, H*W / R^2, C].

        When R divides H and W the non-overlapping R x R patches are gathered into rows of R*R*C values and
        multiplied by the reshaped kernel: one GEMM forward and backward (the CPU's strided-convolution backward
        is about 2x slower at stage 3 of MiT-B5); otherwise (the convolution drops the remainder) the convolution
        itself. The same function up to float rounding.
        """
        r, (h, w) = self.sr_ratio, hw
        if h % r or w % r:
            return self.sr(tokens_to_map(x, hw)).flatten(2).transpose(1, 2)
        return F.linear(_gather_patches(x, hw, r), self._sr_rows(), self.sr.bias)

    def _sr_rows(self) -> torch.Tensor:
        """The ``sr`` kernel as a [C_out, R*R*C_in] matrix whose rows are in the patches' (kh, kw, c_in) order."""
        return self.sr.weight.permute(0, 2, 3, 1).reshape(self.sr.out_channels, -1)


class DWConv(nn.Module):
    """3x3 depth-wise convolution on a token sequence (NVlabs name ``dwconv.dwconv``)."""

    def __init__(self, dim: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return self.dwconv(tokens_to_map(x, hw)).flatten(2).transpose(1, 2)


class _ConvGeluLinear(torch.autograd.Function):
    """``linear(GELU(dwconv(h)), W, b)`` keeping only ``h`` (the ``fc1`` output) for backward, which recomputes the
    depth-wise convolution and the GELU (cheap next to the GEMMs) instead of holding two more hidden-width activations
    (the convolution's output and the GELU's) per Mix-FFN: at stage 3 of MiT-B5 (224 px) 16 MB per block and image.
    The same values and gradients as the autograd ops (the backward calls the same kernels)."""

    @staticmethod
    def forward(ctx, h, hw, conv_w, conv_b, weight, bias):
        conv = dict(stride=1, padding=conv_w.shape[-1] // 2, groups=conv_w.shape[0])
        u = F.conv2d(tokens_to_map(h, hw), conv_w, conv_b, **conv).flatten(2).transpose(1, 2)
        ctx.save_for_backward(h, conv_w, conv_b, weight)
        ctx.hw, ctx.conv, ctx.has_bias = hw, conv, bias is not None
        return F.linear(F.gelu(u), weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        h, conv_w, conv_b, weight = ctx.saved_tensors
        conv, hw = ctx.conv, ctx.hw
        h_map = tokens_to_map(h, hw)
        u = F.conv2d(h_map, conv_w, conv_b, **conv).flatten(2).transpose(1, 2)  # recomputed
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_w = grad_b = grad_h = grad_cw = grad_cb = None
        if ctx.needs_input_grad[4]:
            grad_w = g2.t() @ F.gelu(u).reshape(-1, u.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[5]:
            grad_b = g2.sum(0)
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[2], conv_b is not None and ctx.needs_input_grad[3])
        if any(need):
            grad_u = torch.ops.aten.gelu_backward(grad @ weight, u)
            p, g = conv["padding"], conv["groups"]
            grad_h, grad_cw, grad_cb = torch.ops.aten.convolution_backward(
                tokens_to_map(grad_u, hw).contiguous(memory_format=torch.channels_last),
                h_map,
                conv_w,
                None if conv_b is None else [conv_b.shape[0]],
                [1, 1],
                [p, p],
                [1, 1],
                False,
                [0, 0],
                g,
                list(need),
            )
            if grad_h is not None:
                grad_h = grad_h.flatten(2).transpose(1, 2)
        return grad_h, None, grad_cw, grad_cb, grad_w, grad_b


class _NormLinear(torch.autograd.Function):
    """``linear(layer_norm(x), W, b)`` keeping only ``x`` (and the per-token statistics) for backward, which recomputes
    the normalised tokens with the same kernel instead of holding them: one [B, N, C] activation less per use (at
    stage 3 of MiT-B5, 224 px, 1 MB per block and image). The same values and gradients as the modules."""

    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, weight, bias):
        c = x.shape[-1]
        xn, mean, rstd = torch.ops.aten.native_layer_norm(x, [c], norm_w, norm_b, eps)
        ctx.save_for_backward(x, mean, rstd, norm_w, norm_b, weight)
        ctx.eps, ctx.has_bias = eps, bias is not None
        return F.linear(xn.to(weight.dtype), weight, bias)  # autocast: the product in the weight's (cast) dtype

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, mean, rstd, norm_w, norm_b, weight = ctx.saved_tensors
        c = x.shape[-1]
        xn = torch.ops.aten.native_layer_norm(x, [c], norm_w, norm_b, ctx.eps)[0].to(weight.dtype)  # recomputed
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_w = g2.t() @ xn.reshape(-1, c) if ctx.needs_input_grad[4] else None
        grad_b = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[5] else None
        del xn
        grad_x = grad_nw = grad_nb = None
        need = (
            ctx.needs_input_grad[0],
            norm_w is not None and ctx.needs_input_grad[1],
            norm_b is not None and ctx.needs_input_grad[2],
        )
        if any(need):
            grad_x, grad_nw, grad_nb = torch.ops.aten.native_layer_norm_backward(
                (grad @ weight).to(x.dtype), x, [c], mean, rstd, norm_w, norm_b, list(need)
            )
        return grad_x, grad_nw, grad_nb, None, grad_w, grad_b


def _gather_patches(x: torch.Tensor, hw: tuple[int, int], r: int) -> torch.Tensor:
    """Tokens [B, H*W, C] -> non-overlapping R x R patches as rows [B, H*W / R^2, R*R*C] in (kh, kw, c) order."""
    b, _, c = x.shape
    h, w = hw
    return x.reshape(b, h // r, r, w // r, r, c).transpose(2, 3).reshape(b, (h // r) * (w // r), r * r * c)


def _scatter_patches(p: torch.Tensor, hw: tuple[int, int], r: int) -> torch.Tensor:
    """The inverse of :func:`_gather_patches` (rows [B, H*W / R^2, R*R*C] -> tokens [B, H*W, C])."""
    b, _, rrc = p.shape
    h, w = hw
    c = rrc // (r * r)
    return p.reshape(b, h // r, w // r, r, r, c).transpose(2, 3).reshape(b, h * w, c)


class _NormQReduce(torch.autograd.Function):
    """``y = layer_norm(x)``; returns ``(linear(y, W_q, b_q), linear(patches(y), W_sr, b_sr))``: the query projection
    and the spatial reduction (as a patch GEMM) of efficient self-attention, keeping only ``x`` (and the per-token
    statistics) for backward instead of ``y`` and its gathered patches (two [B, N, C] activations per block)."""

    @staticmethod
    def forward(ctx, x, norm_w, norm_b, eps, wq, bq, wsr, bsr, hw, r):
        c = x.shape[-1]
        y, mean, rstd = torch.ops.aten.native_layer_norm(x, [c], norm_w, norm_b, eps)
        y = y.to(wq.dtype)  # autocast: the products run in the weights' (cast) dtype
        q = F.linear(y, wq, bq)
        red = F.linear(_gather_patches(y, hw, r), wsr, bsr)
        ctx.save_for_backward(x, mean, rstd, norm_w, norm_b, wq, wsr)
        ctx.eps, ctx.hw, ctx.r, ctx.biases = eps, hw, r, (bq is not None, bsr is not None)
        return q, red

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gq, gred):
        x, mean, rstd, norm_w, norm_b, wq, wsr = ctx.saved_tensors
        c, hw, r = x.shape[-1], ctx.hw, ctx.r
        need = ctx.needs_input_grad
        y = torch.ops.aten.native_layer_norm(x, [c], norm_w, norm_b, ctx.eps)[0].to(wq.dtype)  # recomputed
        grad_wq = grad_bq = grad_wsr = grad_bsr = None
        gy = None
        if gq is not None:
            gq2 = gq.reshape(-1, gq.shape[-1])
            grad_wq = gq2.t() @ y.reshape(-1, c) if need[4] else None
            grad_bq = gq2.sum(0) if ctx.biases[0] and need[5] else None
            gy = (gq @ wq).to(x.dtype)  # summed in x's dtype, as autograd sums the two casts' gradients
        if gred is not None:
            patches = _gather_patches(y, hw, r)
            gr2 = gred.reshape(-1, gred.shape[-1])
            grad_wsr = gr2.t() @ patches.reshape(-1, patches.shape[-1]) if need[6] else None
            grad_bsr = gr2.sum(0) if ctx.biases[1] and need[7] else None
            del patches
            g_from_sr = _scatter_patches(gred @ wsr, hw, r).to(x.dtype)
            gy = g_from_sr if gy is None else gy.add_(g_from_sr)
        del y
        grad_x = grad_nw = grad_nb = None
        mask = (need[0], norm_w is not None and need[1], norm_b is not None and need[2])
        if gy is not None and any(mask):
            grad_x, grad_nw, grad_nb = torch.ops.aten.native_layer_norm_backward(
                gy, x, [c], mean, rstd, norm_w, norm_b, list(mask)
            )
        return grad_x, grad_nw, grad_nb, None, grad_wq, grad_bq, grad_wsr, grad_bsr, None, None


def has_hooks(*modules: nn.Module) -> bool:
    """Whether any of ``modules`` has a forward (pre-) or backward (pre-) hook: the fused paths then run the modules."""
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks for m in modules)


def _autocast_enabled(x: torch.Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (never on ``meta``, which autocast does not know; a plain comparison
    rather than ``torch.amp.is_autocast_available``, which ``torch.compile`` cannot trace)."""
    dev = x.device.type
    return dev != "meta" and torch.is_autocast_enabled(dev)


def _autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The autocast dtype active for ``x``'s device, None without autocast."""
    return torch.get_autocast_dtype(x.device.type) if _autocast_enabled(x) else None


def _cast(t: torch.Tensor | None, dtype: torch.dtype | None) -> torch.Tensor | None:
    """``t.to(dtype)`` (differentiable: the gradient returns to ``t``'s dtype, as autocast's own casts do)."""
    return t if t is None or dtype is None else t.to(dtype)


def _autocast_off(x: torch.Tensor, dtype: torch.dtype | None):
    """Autocast off around a fused function whose arguments were cast as autocast would cast them."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(x.device.type, enabled=False)


def _fusable_under_autocast(x: torch.Tensor, norm: nn.Module | None = None) -> bool:
    """Without autocast, always. Under autocast the LayerNorm-fused functions reproduce the modules' dtypes for
    float32 tokens and a float32 norm only (LayerNorm then runs in float32 on every device: CPU autocast keeps the
    input's dtype, CUDA autocast casts to float32); other dtypes take the modules."""
    if not _autocast_enabled(x):
        return True
    w = getattr(norm, "weight", None)
    return x.dtype == torch.float32 and (w is None or w.dtype == torch.float32)


class MixFFN(nn.Module):
    """Mix-FFN: ``fc2(drop(GELU(dwconv(fc1(x)))))``; ``[B, N, C] -> [B, N, C]``.

    While gradients are recorded (no dropout; under autocast in its dtype, as the modules), the depth-wise convolution,
    GELU and ``fc2`` run as one autograd function that keeps only the ``fc1`` output (:class:`_ConvGeluLinear`): two
    hidden-width activations less per block, one depth-wise convolution more in backward. ``forward_normed(x, norm,
    hw)`` (what the MiT and fusion blocks call) also runs the preceding LayerNorm and ``fc1`` as one function that
    keeps ``x`` instead of ``norm(x)`` (:class:`_NormLinear`).
    """

    def __init__(self, dim: int, hidden: int, drop: float = 0.0, *, device=None, dtype=None) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(dim, hidden, **dd)
        self.dwconv = DWConv(hidden, **dd)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, **dd)
        self.drop = nn.Dropout(drop)

    def _fast(self, x: torch.Tensor) -> bool:
        dw = self.dwconv.dwconv
        return (
            torch.is_grad_enabled()
            and (self.drop.p == 0 or not self.training)
            and self.act.approximate == "none"
            and dw.kernel_size[0] % 2 == 1
        )

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return self._from_hidden(self.fc1(x), hw)

    def _from_hidden(self, h: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        dw = self.dwconv.dwconv
        if self._fast(h):
            dt = _autocast_dtype(h)  # autocast: convolution, GELU and fc2 in its dtype, as the modules run them
            with _autocast_off(h, dt):
                return _ConvGeluLinear.apply(
                    _cast(h, dt),
                    hw,
                    _cast(dw.weight, dt),
                    _cast(dw.bias, dt),
                    _cast(self.fc2.weight, dt),
                    _cast(self.fc2.bias, dt),
                )
        return self.drop(self.fc2(self.drop(self.act(self.dwconv(h, hw)))))

    def forward_normed(self, x: torch.Tensor, norm: nn.LayerNorm, hw: tuple[int, int]) -> torch.Tensor:
        """``self(norm(x), hw)``. While gradients are recorded (the conditions of the fast path above), ``norm`` and
        ``fc1`` run as one autograd function that keeps ``x`` instead of ``norm(x)`` (:class:`_NormLinear`); with
        hooks on ``norm`` or ``fc1`` the modules run as such."""
        if (
            self._fast(x)
            and isinstance(norm, nn.LayerNorm)
            and len(norm.normalized_shape) == 1
            and _fusable_under_autocast(x, norm)
            and not has_hooks(norm, self.fc1)
        ):
            dt = _autocast_dtype(x)
            with _autocast_off(x, dt):
                h = _NormLinear.apply(
                    x, norm.weight, norm.bias, norm.eps, _cast(self.fc1.weight, dt), _cast(self.fc1.bias, dt)
                )
            return self._from_hidden(h, hw)
        return self(norm(x), hw)


class MiTBlock(nn.Module):
    """One MiT transformer block: ``x + DropPath(attn(norm1(x)))`` then ``x + DropPath(mlp(norm2(x)))``.

    Args:
        dim: channels C.
        num_heads: attention heads.
        mlp_ratio: Mix-FFN hidden width = ``mlp_ratio * C``.
        qkv_bias: bias on ``q`` / ``kv``.
        sr_ratio: key/value spatial reduction.
        drop_path: stochastic-depth probability.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        sr_ratio: int = 1,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.attn = EfficientSelfAttention(dim, num_heads, qkv_bias, sr_ratio, norm_eps, **dd)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps, **dd)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio), **dd)
        self.apply(init_mit_weights)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn.forward_normed(x, self.norm1, hw))
        return x + self.drop_path(self.mlp.forward_normed(x, self.norm2, hw))
