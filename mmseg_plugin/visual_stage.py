"""Stage "visual" of the recipe (opt-in): pre-train the image encoder on an independent image-only set.

No paper equation. The paper's encoders start from ImageNet-pre-trained weights (MiT-B5, PVT-v2-B5); the small
synthetic configs learn vision from scratch. On the harder set a from-scratch encoder learns the 8 training
instances per class, not the classes (docs/training.md, "The visual half"). A config with a top-level
``visual_pretrain`` dict first trains its encoder geometry (``model.net.encoder``) as a plain
:class:`~ddeseg_layers.mit_backbone.MiTBackbone` + SegFormer head on the sprite set of
:mod:`mmseg_plugin.synthetic.sprite_images` (every object a fresh instance; no image, instance or random stream
shared with the harder set), with pixel cross-entropy, and saves a SegFormer-format checkpoint (``backbone.*`` =
NVlabs MiT keys, ``decode_head.*``). ``tools/run_pipeline.py`` then trains DDESeg with
``model.net.pretrained.encoder`` pointing at it: the fusion encoder's MiT weights start from the pre-trained ones,
its audio parts and the head from their initialisation, exactly as with ImageNet weights.

``visual_pretrain`` keys (defaults): ``num_images`` (4000), ``iters`` (5000), ``batch_size`` (8), ``lr`` (2e-3),
``weight_decay`` (0.05), ``warmup_iters`` (30; then cosine to 5 %), ``seed`` (0), ``image_size`` (128),
``generator`` (extra :class:`~mmseg_plugin.synthetic.sprite_images.SpriteImageConfig` fields: ``num_classes``,
``object_scale``, ``min_objects``, ``max_objects``, ``backgrounds``). The loop is plain PyTorch over in-memory
arrays (random horizontal flips); it is deterministic for a seed on one thread.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config_utils import plain as _plain
from .simple_loop import adamw_no_decay_on_norms, warmup_cosine_factor

__all__ = ["VISUAL_DEFAULTS", "visual_settings", "VisualSegmenter", "train_segmenter", "segmenter_scores",
           "pretrain_visual_encoder"]  # fmt: skip

VISUAL_DEFAULTS = dict(
    num_images=4000, iters=5000, batch_size=8, lr=2e-3, weight_decay=0.05, warmup_iters=30, seed=0, image_size=128,
    generator={},
)  # fmt: skip
MEAN = (123.675, 116.28, 103.53)  # defaults when a config's data_preprocessor names none (RGB order)
STD = (58.395, 57.12, 57.375)


def visual_settings(cfg) -> Optional[dict]:
    """The config's ``visual_pretrain`` dict with defaults filled in, or None when the config has none."""
    vp = cfg.get("visual_pretrain", None)
    if not vp:
        return None
    vp = _plain(vp)
    unknown = sorted(set(vp) - set(VISUAL_DEFAULTS))
    if unknown:
        raise ValueError(
            f"{getattr(cfg, 'filename', 'config')}: unknown visual_pretrain keys {unknown}; "
            f"allowed: {sorted(VISUAL_DEFAULTS)}"
        )
    out = dict(VISUAL_DEFAULTS, **vp)
    for key in ("num_images", "iters", "batch_size", "image_size"):
        if int(out[key]) < 1:
            raise ValueError(f"{getattr(cfg, 'filename', 'config')}: visual_pretrain.{key} must be >= 1")
    return out


class VisualSegmenter(nn.Module):
    """An encoder returning four maps + a SegFormer head: ``image [B, 3, H, W]`` -> logits ``[B, K, H/4, W/4]``."""

    def __init__(self, encoder: nn.Module, widths, num_classes: int, head_dim: int):
        super().__init__()
        from ddeseg_layers.head import SegFormerHead

        self.encoder = encoder
        self.head = SegFormerHead(list(widths), num_classes, embed_dim=head_dim, dropout=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def image_normalisation(cfg) -> tuple:
    """``(mean, std)`` (RGB) of the config's ``model.data_preprocessor``: pre-training sees the images exactly as
    DDESeg will."""
    dp = _plain(cfg.model.get("data_preprocessor", None) or {})
    return tuple(dp.get("mean", MEAN)), tuple(dp.get("std", STD))


def normalise(x: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    """uint8 RGB ``[B, 3, H, W]`` -> ``(x - mean) / std`` float input."""
    return (x.float() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def train_segmenter(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    iters: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.05,
    warmup_iters: int = 30,
    progress: Optional[Callable[[int], None]] = None,
    mean=MEAN,
    std=STD,
) -> tuple:
    """Pixel cross-entropy on random batches (with replacement) of ``images`` uint8 ``[N, 3, H, W]`` / ``labels``
    int64 ``[N, H, W]``; AdamW (no decay on norms / biases), linear warm-up then cosine to 5 %, random horizontal
    flips. Returns ``(seconds, last loss)``."""
    g = torch.Generator().manual_seed(int(seed))
    opt = adamw_no_decay_on_norms(model.parameters(), lr, weight_decay)
    model.train()
    t0 = time.perf_counter()
    loss = torch.zeros(())
    for it in range(int(iters)):
        for group in opt.param_groups:
            group["lr"] = lr * warmup_cosine_factor(it, int(iters), int(warmup_iters))
        idx = torch.randint(len(images), (batch_size,), generator=g)
        xb, yb = normalise(images[idx], mean, std), labels[idx]
        if torch.rand(1, generator=g).item() < 0.5:
            xb, yb = xb.flip(-1), yb.flip(-1)
        out = F.interpolate(model(xb), size=yb.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(1)
    return time.perf_counter() - t0, float(loss.detach())


@torch.no_grad()
def segmenter_scores(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int, mean=MEAN, std=STD
) -> dict:
    """Dataset-level foreground mIoU (over the classes present in labels or predictions) and the
    foreground-vs-background IoU (class ignored), in percent."""
    was = model.training
    model.eval()
    inter = torch.zeros(num_classes)
    union = torch.zeros(num_classes)
    fg_i = fg_u = 0
    for i in range(0, len(images), 50):
        logits = model(normalise(images[i : i + 50], mean, std))
        p = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False).argmax(1)
        t = labels[i : i + 50]
        for k in range(num_classes):
            inter[k] += ((p == k) & (t == k)).sum()
            union[k] += ((p == k) | (t == k)).sum()
        fg_i += int(((p > 0) & (t > 0)).sum())
        fg_u += int(((p > 0) | (t > 0)).sum())
    model.train(was)
    present = union[1:] > 0
    miou = (inter[1:][present] / union[1:][present]).mean().item() if present.any() else 0.0
    return dict(mIoU=100 * miou, fg_IoU=100 * fg_i / max(fg_u, 1))


def encoder_geometry(cfg) -> tuple:
    """``(MiT geometry dict, head width)`` of the config's DDESeg network (``model.net``)."""
    net = _plain(cfg.model.net)
    return dict(net.get("encoder") or {}), int((net.get("head") or {}).get("embed_dim", 64))


def pretrain_visual_encoder(cfg, out: str, progress: Optional[Callable[[int], None]] = None) -> dict:
    """Generate the sprite set, train ``MiTBackbone`` + head on it, save ``{"state_dict": backbone.* +
    decode_head.*, "meta": ...}`` to ``out``; returns the stage's report (timings, last loss, settings)."""
    from ddeseg_layers.mit_backbone import MiTBackbone

    from .synthetic.sprite_images import generate_sprite_images

    vs = visual_settings(cfg)
    if vs is None:
        raise ValueError(f"{getattr(cfg, 'filename', 'config')}: no `visual_pretrain` dict")
    t0 = time.perf_counter()
    imgs, labs, info = generate_sprite_images(
        num_images=int(vs["num_images"]), seed=int(vs["seed"]), image_size=int(vs["image_size"]), **vs["generator"]
    )
    gen_s = time.perf_counter() - t0
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labs.astype(np.int64))
    num_classes = len(info["classes"]) + 1
    geometry, head_dim = encoder_geometry(cfg)
    mean, std = image_normalisation(cfg)
    torch.manual_seed(int(vs["seed"]))
    encoder = MiTBackbone(geometry)
    model = VisualSegmenter(encoder, encoder.embed_dims, num_classes, head_dim)
    seconds, last_loss = train_segmenter(
        model, x, y, int(vs["iters"]), float(vs["lr"]), int(vs["batch_size"]), int(vs["seed"]),
        weight_decay=float(vs["weight_decay"]), warmup_iters=int(vs["warmup_iters"]), progress=progress,
        mean=mean, std=std,
    )  # fmt: skip
    if not math.isfinite(last_loss):
        raise FloatingPointError(f"visual pre-training diverged (loss {last_loss}); lower visual_pretrain.lr")
    state = {"backbone." + k: v for k, v in model.encoder.state_dict().items()}
    state.update({"decode_head." + k: v for k, v in model.head.state_dict().items()})
    report = dict(
        visual_encoder=out,
        visual_gen_s=round(gen_s, 1),
        visual_train_s=round(seconds, 1),
        visual_iters=int(vs["iters"]),
        visual_last_loss=round(last_loss, 4),
        visual_settings=vs,
        sprite_classes=info["classes"],
    )
    torch.save({"state_dict": state, "meta": report}, out)
    return report
