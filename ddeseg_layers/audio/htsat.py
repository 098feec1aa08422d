"""HTS-AT (Chen et al., ICASSP 2022) audio transformer, key-compatible with ``HTSAT_AudioSet_Saved_*.ckpt``.

DDESeg's audio feature F_a (paper eq. 1 input, Sec. 4 "Architecture Details") is HTS-AT's ``latent_output``:
waveform ``[B, T]`` -> ``[B, embed_dim * 8]`` (768 for the AudioSet checkpoint).

Pipeline (parameter names in brackets are the checkpoint's, ``sed_model.`` prefix stripped):

1. ``spectrogram_extractor`` [``stft.conv_real.weight``, ``stft.conv_imag.weight`` ``[n_fft/2+1, 1, n_fft]``]:
   conv-STFT power spectrogram, reflect-centred -> ``[B, 1, 1 + T // hop, n_fft/2+1]``.
2. ``logmel_extractor`` [``melW`` ``[n_fft/2+1, mel_bins]``] -> dB log-mel ``[B, 1, frames, mel_bins]``.
3. ``bn0`` (BatchNorm2d over the mel axis); SpecAugment only while fine-tuning in train mode.
4. ``reshape_wav2img``: bicubic (align_corners) resize of time to ``spec_size * freq_ratio`` frames, then fold the
   time axis into ``freq_ratio`` stacked rows -> a ``[B, 1, spec_size, spec_size]`` image.
5. ``patch_embed`` [``proj``, ``norm``] (patch 4, stride 4) -> 4 Swin stages ``layers.{i}`` with window attention
   (``blocks.{j}.{norm1, attn.{qkv, proj, relative_position_bias_table, relative_position_index}, norm2,
   mlp.{fc1, fc2}}``, shifted windows and the buffer ``attn_mask`` on odd blocks) and patch merging
   ``downsample.{norm, reduction}`` -> ``norm``.
6. Token-semantic head (tscam): tokens ``[B, F*T, C]`` are regrouped to ``[B, C, F / freq_ratio, freq_ratio*T]``;
   ``latent_output`` = their mean ``[B, C]``; ``tscam_conv`` (kernel ``(F / freq_ratio, 3)``) gives per-frame
   class logits, ``clipwise_output = sigmoid(mean over time)``, ``framewise_output`` = per-frame sigmoids
   repeated ``8 * patch_stride`` times. ``head`` (Linear classes->classes) exists in the checkpoint but the tscam
   path never uses it (kept so the published keys load).

Variants: ``"paper"`` (default) is HTS-AT's own recipe (32 kHz input, hop 320, 10 s -> 1001 frames, 527 AudioSet
classes); ``"official"`` is the released DDESeg code's use of the same weights: 22.05 kHz 1 s windows with hop 256
(87 frames bicubic-stretched to 1024) while the STFT kernels and ``melW`` still come from the 32 kHz checkpoint, and
a 71-class tscam head as the release builds it (an AudioSet checkpoint's 527-class head is dropped on load).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import torch
import torch.nn.functional as F
import torchaudio
from timm.layers import DropPath, trunc_normal_
from torch import nn

from ..checkpoint import LoadReport, load_checkpoint_file, load_state_dict_strict
from .base import FreezableBackbone
from .frontends import ConvSpectrogram, LogMelFilterBank

__all__ = ["HTSAT", "HTSATBackbone", "load_htsat_checkpoint", "htsat_config", "HTSAT_VARIANTS"]

# Front-end / geometry presets. "mel_*" define the default melW (the AudioSet checkpoint's, built at 32 kHz).
HTSAT_VARIANTS = {
    "paper": dict(sample_rate=32000, n_fft=1024, hop_size=320),
    # the released DDESeg builds its HTSAT with a 71-class tscam head (its checkpoints carry tscam_conv / head of
    # 71 classes; the latent F_a does not use them), so a full released state dict loads strictly
    "official": dict(sample_rate=22050, n_fft=1024, hop_size=256, num_classes=71),
}
_TINY = dict(
    sample_rate=16000,
    n_fft=512,
    hop_size=160,
    mel_bins=32,
    mel_sample_rate=16000,
    fmin=50.0,
    fmax=8000.0,
    spec_size=64,
    embed_dim=24,
    depths=(1, 1, 1, 1),
    num_heads=(1, 2, 3, 6),
    window_size=4,
    num_classes=10,
)


def htsat_config(variant: str = "paper", size: str = "base", **overrides) -> dict:
    """Constructor kwargs for ``HTSAT``: ``variant`` in {"paper", "official"}, ``size`` in {"base", "tiny"}."""
    if variant not in HTSAT_VARIANTS:
        raise ValueError(f"htsat_config: variant must be one of {sorted(HTSAT_VARIANTS)}, got {variant!r}")
    if size not in ("base", "tiny"):
        raise ValueError(f"htsat_config: size must be 'base' or 'tiny', got {size!r}")
    cfg = dict(_TINY) if size == "tiny" else dict(HTSAT_VARIANTS[variant])
    cfg.update(overrides)
    return cfg


def _window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def _relative_position_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # [2, N]
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)  # [N, N, 2], >= 0
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]


def _shift_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """Swin's SW-MSA mask ``[nW, ws*ws, ws*ws]``: 0 within a region, -100 across regions."""
    region = torch.zeros(1, h, w, 1)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wsl in cuts:
            region[:, hs, wsl, :] = label
            label += 1
    win = _window_partition(region, ws)[..., 0]  # [nW, N]
    diff = win[:, None, :] - win[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    """Window multi-head self-attention with a learned relative-position bias (Swin). ``[nW*B, N, C]`` -> same."""

    def __init__(self, dim: int, window: int, num_heads: int, qkv_bias: bool = True, *, device=None, dtype=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"WindowAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.window = num_heads, window
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads, device=device, dtype=dtype)
        )
        self.register_buffer(
            "relative_position_index", torch.as_tensor(_relative_position_index(window), device=device)
        )
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        # softmax(q k^T * scale + relative-position bias (+ shift mask)) v through SDPA, the bias as a float mask
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1)[None]  # [1, heads, N, N]
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias + mask[:, None]).repeat(bw // nw, 1, 1, 1)  # [bw, heads, N, N], window-major as x
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (names ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int, *, device=None, dtype=None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, device=device, dtype=dtype)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention block. ``[B, H*W, C]`` -> same.

    As in Swin/HTS-AT, a window at least as large as the grid collapses to the grid and disables shifting; the
    shifted-window mask is a persistent buffer ``attn_mask`` (it is stored in the official checkpoints).
    """

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        num_heads: int,
        window: int,
        shift: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        *,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= window:
            window, shift = min(resolution), 0
        self.window, self.shift = window, shift
        kw = dict(device=device, dtype=dtype)
        self.norm1 = nn.LayerNorm(dim, **kw)
        self.attn = WindowAttention(dim, window, num_heads, qkv_bias, **kw)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, **kw)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), **kw)
        if shift > 0:
            self.register_buffer("attn_mask", torch.as_tensor(_shift_mask(*resolution, window, shift), device=device))
        else:
            self.attn_mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, n, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        mask = None if self.attn_mask is None else self.attn_mask.to(y.dtype)
        y = _window_reverse(self.attn(_window_partition(y, self.window), mask), self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(b, n, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concat -> LayerNorm(4C) -> Linear(4C, 2C, no bias). ``[B, H*W, C]`` -> ``[B, H*W/4, 2C]``."""

    def __init__(self, resolution: tuple[int, int], dim: int, *, device=None, dtype=None):
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(4 * dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        # order (0,0), (1,0), (0,1), (1,1) as in Swin: the reduction weights depend on it
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """``blocks`` (alternating W-MSA / SW-MSA) followed by an optional ``downsample`` (PatchMerging)."""

    def __init__(self, dim, resolution, depth, num_heads, window, mlp_ratio, qkv_bias, drop_paths, downsample, **kw):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio, qkv_bias,
                      drop_paths[i], **kw)
            for i in range(depth)
        )  # fmt: skip
        self.downsample = PatchMerging(resolution, dim, **kw) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """Conv patch embedding (``proj``) + LayerNorm (``norm``): ``[B, 1, S, S]`` -> ``[B, (S/stride)^2, C]``."""

    def __init__(self, img_size: int, patch: int, stride: tuple[int, int], embed_dim: int, *, device=None, dtype=None):
        super().__init__()
        self.img_size = img_size
        self.grid = (img_size // stride[0], img_size // stride[1])
        pad = ((patch - stride[0]) // 2, (patch - stride[1]) // 2)
        self.proj = nn.Conv2d(1, embed_dim, patch, stride, pad, device=device, dtype=dtype)
        self.norm = nn.LayerNorm(embed_dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class HTSAT(nn.Module):
    """HTS-AT with the token-semantic (tscam) head; parameter names as ``sed_model.*`` of the official checkpoint.

    Args:
        sample_rate: input waveform rate (32000 for HTS-AT; 22050 for the official DDESeg use).
        n_fft: STFT window / FFT length (1024).
        hop_size: STFT hop (320; 256 in the official DDESeg use).
        mel_bins: mel bands (64).
        mel_sample_rate, fmin, fmax: the rate / band edges of the DEFAULT ``melW`` (32000, 50, 14000: the matrix
            stored in the AudioSet checkpoint). A loaded checkpoint overwrites ``melW`` and the STFT kernels.
        spec_size: side of the square Swin input (256); ``freq_ratio = spec_size // mel_bins`` (4).
        patch_size, patch_stride: patch embedding (4, (4, 4)).
        embed_dim, depths, num_heads, window_size, mlp_ratio, qkv_bias: Swin geometry (96, [2,2,6,2],
            [4,8,16,32], 8, 4.0, True).
        num_classes: tscam classes (527 for AudioSet).
        drop_path_rate: stochastic depth, linearly increasing over blocks (0.1).
        spec_augment: SpecAugment (2 time masks <= ``time_mask_param`` frames, 2 frequency masks <=
            ``freq_mask_param`` bins) in train mode.
        time_mask_param, freq_mask_param: SpecAugment mask widths (64 frames of 1001, 8 bins of 64: HTS-AT's).
        device, dtype: of the parameters.

    Shapes: ``forward([B, T])`` -> dict ``latent_output [B, embed_dim * 2**(len(depths)-1)]``,
    ``clipwise_output [B, num_classes]`` (sigmoid), ``framewise_output [B, frames_out, num_classes]``.
    The input must give at most ``spec_size * freq_ratio`` STFT frames (10.23 s at 32 kHz / hop 320).
    """

    _always_frozen = ("spectrogram_extractor.stft.conv_real.weight", "spectrogram_extractor.stft.conv_imag.weight",
                      "logmel_extractor.melW")  # fmt: skip

    def __init__(
        self,
        sample_rate: int = 32000,
        n_fft: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        mel_sample_rate: int = 32000,
        fmin: float = 50.0,
        fmax: float = 14000.0,
        spec_size: int = 256,
        patch_size: int = 4,
        patch_stride: Sequence[int] = (4, 4),
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        window_size: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        num_classes: int = 527,
        drop_path_rate: float = 0.1,
        spec_augment: bool = True,
        time_mask_param: int = 64,
        freq_mask_param: int = 8,
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if spec_size % mel_bins:
            raise ValueError(f"HTSAT: spec_size ({spec_size}) must be a multiple of mel_bins ({mel_bins})")
        if len(depths) != len(num_heads):
            raise ValueError(f"HTSAT: depths {tuple(depths)} and num_heads {tuple(num_heads)} differ in length")
        stride = tuple(int(s) for s in patch_stride)
        n_layers = len(depths)
        self.sample_rate, self.hop_size, self.mel_bins = int(sample_rate), int(hop_size), int(mel_bins)
        self.spec_size, self.freq_ratio, self.patch_stride = int(spec_size), spec_size // mel_bins, stride
        self.num_features = int(embed_dim * 2 ** (n_layers - 1))
        self.num_classes = int(num_classes)
        final_f = spec_size // 2 ** (n_layers - 1) // stride[0]
        if final_f < self.freq_ratio or final_f % self.freq_ratio:
            raise ValueError(
                f"HTSAT: the last stage has {final_f} frequency rows, which must be a positive multiple of "
                f"freq_ratio ({self.freq_ratio}); increase spec_size or reduce depths"
            )
        kw = dict(device=device, dtype=dtype)

        self.spectrogram_extractor = ConvSpectrogram(n_fft, hop_size, center=True, pad_mode="reflect", **kw)
        self.logmel_extractor = LogMelFilterBank(mel_sample_rate, n_fft, mel_bins, fmin, fmax, **kw)
        self.bn0 = nn.BatchNorm2d(mel_bins, **kw)
        self.spec_augment = bool(spec_augment)
        self.time_mask = torchaudio.transforms.TimeMasking(time_mask_param=int(time_mask_param), iid_masks=True)
        self.freq_mask = torchaudio.transforms.FrequencyMasking(freq_mask_param=int(freq_mask_param), iid_masks=True)

        self.patch_embed = PatchEmbed(spec_size, patch_size, stride, embed_dim, **kw)
        grid = self.patch_embed.grid
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i in range(n_layers):
            res = (grid[0] // 2**i, grid[1] // 2**i)
            start = sum(depths[:i])
            self.layers.append(
                SwinStage(int(embed_dim * 2**i), res, depths[i], num_heads[i], window_size, mlp_ratio, qkv_bias,
                          dpr[start : start + depths[i]], i < n_layers - 1, **kw)
            )  # fmt: skip
        self.norm = nn.LayerNorm(self.num_features, **kw)
        sf = final_f // self.freq_ratio
        self.tscam_conv = nn.Conv2d(self.num_features, num_classes, kernel_size=(sf, 3), padding=(0, 1), **kw)
        self.head = nn.Linear(num_classes, num_classes, **kw)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name in self._always_frozen:
                p.requires_grad_(False)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @property
    def max_frames(self) -> int:
        return self.spec_size * self.freq_ratio

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> normalised log-mel ``[B, 1, frames, mel_bins]`` (steps 1-3 of the module docstring)."""
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        if self.training and self.spec_augment:
            x = self.freq_mask(self.freq_mask(self.time_mask(self.time_mask(x.transpose(2, 3))))).transpose(2, 3)
        return x

    def reshape_wav2img(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, frames, mel_bins]`` -> ``[B, 1, spec_size, spec_size]`` (time stretched, folded freq_ratio x)."""
        b, c, t, f = x.shape
        if t > self.max_frames:
            raise ValueError(
                f"HTSAT: {t} STFT frames exceed the {self.max_frames} the Swin input holds "
                f"(at most {(self.max_frames - 1) * self.hop_size} samples at {self.sample_rate} Hz); "
                "crop the waveform"
            )
        if t < self.max_frames:
            x = F.interpolate(x, (self.max_frames, f), mode="bicubic", align_corners=True)
        x = x.permute(0, 1, 3, 2).reshape(b, c, f, self.freq_ratio, self.max_frames // self.freq_ratio)
        return x.permute(0, 1, 3, 2, 4).reshape(b, c, self.freq_ratio * f, self.max_frames // self.freq_ratio)

    def forward_features(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """Swin + tscam head on ``[B, 1, spec_size, spec_size]``."""
        x = self.patch_embed(img)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)  # [B, F*T, C]
        b, _, c = x.shape
        rows = self.spec_size // 2 ** (len(self.layers) - 1) // self.patch_stride[0]
        cols = self.spec_size // 2 ** (len(self.layers) - 1) // self.patch_stride[1]
        x = x.transpose(1, 2).reshape(b, c, rows, cols)
        group = rows // self.freq_ratio
        x = x.reshape(b, c, rows // group, group, cols).permute(0, 1, 3, 2, 4).reshape(b, c, group, -1)
        latent = x.flatten(2).mean(dim=2)
        logits = self.tscam_conv(x).flatten(2)  # [B, classes, T']
        framewise = torch.sigmoid(logits).transpose(1, 2).repeat_interleave(8 * self.patch_stride[1], dim=1)
        clipwise = torch.sigmoid(logits.mean(dim=2))
        return {"latent_output": latent, "clipwise_output": clipwise, "framewise_output": framewise}

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        if waveform.dim() != 2:
            raise ValueError(f"HTSAT: waveform must be [B, T] (mono), got shape {tuple(waveform.shape)}")
        return self.forward_features(self.reshape_wav2img(self.log_mel(waveform)))


StateOrPath = Union[str, os.PathLike, Mapping[str, torch.Tensor]]
_HEAD_KEYS = ("tscam_conv.weight", "tscam_conv.bias", "head.weight", "head.bias")
_DERIVED_BUFFERS = ("*.attn_mask", "*.relative_position_index", "bn0.num_batches_tracked")


def load_htsat_checkpoint(model: HTSAT, src: StateOrPath, *, head: str = "auto") -> LoadReport:
    """Load an HTS-AT checkpoint strictly into ``model``.

    Accepts the official Lightning file / dict (``{"state_dict": {"sed_model.<key>": ...}, ...}``), the same
    ``state_dict`` alone, and the flat DDESeg ``HTSAT_AudioSet_Saved_1_clean.ckpt`` form (no prefix, no head).
    Keys that are derived deterministically (``attn_mask``, ``relative_position_index``,
    ``bn0.num_batches_tracked``) may be absent; everything else must match exactly.

    Args:
        model: destination.
        src: path or mapping.
        head: ``"load"`` (the checkpoint must hold ``tscam_conv``/``head`` of the model's class count),
            ``"drop"`` (ignore the checkpoint's head; the model's stays at its initial values), or ``"auto"``
            (load when present with matching shapes, otherwise drop; what happened is in the report).

    Returns:
        ``LoadReport`` (``ignored`` lists dropped head keys, ``missing_allowed`` the absent derived/head keys).
    """
    if head not in ("load", "drop", "auto"):
        raise ValueError(f"load_htsat_checkpoint: head must be 'load', 'drop' or 'auto', got {head!r}")
    if isinstance(src, Mapping):
        what = "HTSAT state dict"
        obj = dict(src)
        if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            obj = dict(obj["state_dict"])
    else:
        what = os.fspath(src)
        obj = load_checkpoint_file(src)  # unwraps Lightning's "state_dict"
    prefixed = [k for k in obj if k.startswith("sed_model.")]
    if prefixed:
        others = sorted(k for k in obj if not k.startswith("sed_model."))
        if others:
            raise ValueError(f"{what}: mixes 'sed_model.' keys with unprefixed keys: {others[:10]}")
        obj = {k[len("sed_model.") :]: v for k, v in obj.items()}
    own = model.state_dict()
    present = [k for k in _HEAD_KEYS if k in obj]
    fits = all(k in own and tuple(obj[k].shape) == tuple(own[k].shape) for k in present)
    ignore: tuple[str, ...] = ()
    allow_missing = _DERIVED_BUFFERS
    if head == "load":
        if not present:
            raise ValueError(f"{what}: head='load' but the checkpoint has no tscam_conv/head keys")
    elif head == "drop" or (head == "auto" and not (present and fits)):
        ignore, allow_missing = _HEAD_KEYS, _DERIVED_BUFFERS + _HEAD_KEYS
    return load_state_dict_strict(model, obj, what=what, ignore=ignore, allow_missing=allow_missing)


class HTSATBackbone(FreezableBackbone):
    """``HTSAT`` returning only ``latent_output``: waveform ``[B, T]`` at ``sample_rate`` -> ``[B, out_dim]``.

    Args:
        frozen: freeze and keep in eval mode (default); ``False`` fine-tunes everything except the STFT kernels
            and ``melW``.
        frozen_mode: ``"eval"`` (default) or ``"follow"`` (a frozen encoder follows its parent's train / eval
            mode, as the released DDESeg code leaves its HTSAT: bn0 batch statistics, drop-path and SpecAugment
            act in training; see ``FreezableBackbone``).
        checkpoint: optional path / mapping for ``load_htsat_checkpoint``.
        head: head policy for ``load_htsat_checkpoint``.
        variant: ``"paper"`` or ``"official"`` (see module docstring).
        size: ``"base"`` or ``"tiny"`` (a CPU test model).
        **overrides: ``HTSAT`` constructor kwargs.
    """

    def __init__(
        self,
        frozen: bool = True,
        checkpoint: Optional[StateOrPath] = None,
        head: str = "auto",
        variant: str = "paper",
        size: str = "base",
        frozen_mode: str = "eval",
        **overrides,
    ) -> None:
        super().__init__()
        self.set_frozen_mode(frozen_mode)
        self.net = HTSAT(**htsat_config(variant, size, **overrides))
        self._always_frozen = tuple("net." + k for k in HTSAT._always_frozen)
        self.load_report = load_htsat_checkpoint(self.net, checkpoint, head=head) if checkpoint is not None else None
        self.variant = variant
        self.out_dim = self.net.num_features
        self.sample_rate = self.net.sample_rate
        self.set_frozen(frozen)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio)["latent_output"]
