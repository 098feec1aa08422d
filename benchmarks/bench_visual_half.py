"""The visual half of a synthetic recipe: how well its encoder segments the *visible* objects of unseen instances.

    python benchmarks/bench_visual_half.py CONFIG [--model mit|cnn] [--iters 1500] [--batch-size 8] [--lr 2e-3]
        [--pretrain-images 4000 --pretrain-iters 1500] [--seeds 0 1] [--split val] [--threads 1] [--out R.json]

A synthetic set's ``labels_visible/`` maps hold every on-screen object (sounding or silent). A model trained on
them with no audio measures the ceiling of the recipe's visual half: a DDESeg model cannot beat the visual-only
oracle on the sounding objects if its encoder cannot segment the visible ones. This benchmark trains, on the
CONFIG's train split (the frames whose AVSS label exists, as in training) with plain PyTorch (AdamW, no decay on
norms / biases, 30 warm-up iterations then cosine to 5 %, pixel cross-entropy, random horizontal flips):

* ``--model mit``: the config's MiT encoder geometry (``model.net.encoder``) as a plain
  :class:`~ddeseg_layers.mit_backbone.MiTBackbone` + the config's SegFormer head width: the recipe's visual half
  without the audio parts;
* ``--model cnn``: a plain conv encoder of the same widths (two 3x3 conv + BN + ReLU per stage, strides 4/2/2/2) +
  the same head: is the transformer the limit, or the data?

``--pretrain-images N --pretrain-iters M`` first trains the model on N images of the independent sprite set
(:mod:`mmseg_plugin.synthetic.sprite_images`: fresh instances, the analogue of ImageNet pre-training), scores it
on the split (zero-shot) and then fine-tunes it. Scores, in percent: dataset-level mean IoU over the foreground
classes (intersections and unions summed over the split), the foreground-vs-background IoU (objectness, class
ignored) and the same mIoU on up to 300 training frames (fit). One run per seed; prints mean +- std over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def load_visible(cfg, split: str):
    """Frames ``uint8 [N, 3, H, W]`` and visible-object labels ``int64 [N, H, W]`` of ``split`` (labelled frames)."""
    from PIL import Image

    from mmseg_plugin.datasets.synthetic import AVSSyntheticDataset

    ds_cfg = dict(cfg.train_dataloader.dataset)
    if ds_cfg.get("type") != "AVSSyntheticDataset":
        raise ValueError(f"{cfg.filename}: the visual-half benchmark needs a synthetic set (labels_visible/), got "
                         f"dataset type {ds_cfg.get('type')!r}")  # fmt: skip
    kw = {k: ds_cfg[k] for k in ("data_root", "seed", "generator", "preset") if k in ds_cfg}
    ds = AVSSyntheticDataset(**kw, split=split, label_source="visible", pipeline=[])
    items = [ds.get_data_info(i) for i in range(len(ds))]
    items = [it for it in items if it.get("has_label", True)]
    if not items:
        raise ValueError(f"{cfg.filename}: split {split!r} has no labelled frames")
    imgs = np.stack([np.asarray(Image.open(it["img_path"]).convert("RGB")) for it in items])
    labs = np.stack([np.asarray(Image.open(it["seg_map_path"])) for it in items])
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labs.astype(np.int64))


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvEncoder(nn.Module):
    """Plain conv encoder, strides 4/2/2/2, two 3x3 conv + BN + ReLU per stage: four maps like an MiT's."""

    def __init__(self, widths):
        super().__init__()
        w = list(widths)
        self.stages = nn.ModuleList(
            [nn.Sequential(_cbr(3, w[0], 2), _cbr(w[0], w[0], 2), _cbr(w[0], w[0]))]
            + [nn.Sequential(_cbr(w[i - 1], w[i], 2), _cbr(w[i], w[i])) for i in range(1, 4)]
        )

    def forward(self, x):
        outs = []
        for s in self.stages:
            x = s(x)
            outs.append(x)
        return outs


class VisualSegmenter(nn.Module):
    def __init__(self, encoder: nn.Module, widths, num_classes: int, head_dim: int):
        super().__init__()
        from ddeseg_layers.head import SegFormerHead

        self.encoder = encoder
        self.head = SegFormerHead(list(widths), num_classes, embed_dim=head_dim, dropout=0.0)

    def forward(self, x):
        return self.head(self.encoder(x))


def build_model(cfg, kind: str, num_classes: int) -> nn.Module:
    from ddeseg_layers.mit_backbone import MiTBackbone

    net = cfg.model.net
    geometry = dict(net.get("encoder", {}) or {})
    head_dim = int((net.get("head", {}) or {}).get("embed_dim", 64))
    if kind == "mit":
        enc = MiTBackbone(geometry)
        widths = enc.embed_dims
    elif kind == "cnn":
        widths = list(geometry.get("embed_dims", (16, 32, 64, 128)))
        enc = ConvEncoder(widths)
    else:
        raise ValueError(f"--model must be 'mit' or 'cnn', got {kind!r}")
    return VisualSegmenter(enc, widths, num_classes, head_dim)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x.float() - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


@torch.no_grad()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, bs: int = 50) -> dict:
    """Dataset-level foreground mIoU (classes present in labels or predictions) and objectness IoU, percent."""
    was = model.training
    model.eval()
    inter = torch.zeros(num_classes)
    union = torch.zeros(num_classes)
    fg_i = fg_u = 0
    for i in range(0, len(x), bs):
        logits = model(_normalise(x[i : i + bs]))
        p = F.interpolate(logits, size=y.shape[-2:], mode="bilinear", align_corners=False).argmax(1)
        t = y[i : i + bs]
        for k in range(num_classes):
            inter[k] += ((p == k) & (t == k)).sum()
            union[k] += ((p == k) | (t == k)).sum()
        fg_i += int(((p > 0) & (t > 0)).sum())
        fg_u += int(((p > 0) | (t > 0)).sum())
    model.train(was)
    present = union[1:] > 0
    miou = (inter[1:][present] / union[1:][present]).mean().item() if present.any() else 0.0
    return dict(mIoU=100 * miou, fg_IoU=100 * fg_i / max(fg_u, 1))


def train(model, x, y, iters: int, lr: float, batch_size: int, seed: int, weight_decay: float = 0.05, warmup: int = 30):
    g = torch.Generator().manual_seed(seed)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)],
                            lr=lr)  # fmt: skip
    model.train()
    t0 = time.perf_counter()
    for it in range(iters):
        if it < warmup:
            f = (it + 1) / warmup
        else:
            f = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (it - warmup) / max(1, iters - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr * f
        idx = torch.randint(len(x), (batch_size,), generator=g)
        xb, yb = _normalise(x[idx]), y[idx]
        if torch.rand(1, generator=g).item() < 0.5:
            xb, yb = xb.flip(-1), yb.flip(-1)
        out = F.interpolate(model(xb), size=yb.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, loss.item()


def run(args) -> dict:
    from mmengine.config import Config

    from mmseg_plugin.apis.scope import import_plugin

    import_plugin()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    xt, yt = load_visible(cfg, "train")
    xe, ye = load_visible(cfg, args.split)
    num_classes = int(max(yt.max(), ye.max())) + 1
    runs = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = build_model(cfg, args.model, num_classes)
        rec = dict(seed=seed, params_M=sum(p.numel() for p in model.parameters()) / 1e6)
        if args.pretrain_images:
            from mmseg_plugin.synthetic.sprite_images import generate_sprite_images

            size = int(xt.shape[-1])
            t0 = time.perf_counter()
            pi, pl, _ = generate_sprite_images(
                num_images=args.pretrain_images, seed=1000 + seed, image_size=size, num_classes=num_classes - 1
            )
            rec["pretrain_gen_s"] = time.perf_counter() - t0
            px, py = torch.from_numpy(pi).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(pl.astype(np.int64))
            rec["pretrain_s"], _ = train(model, px, py, args.pretrain_iters, args.lr, args.batch_size, seed + 100)
            rec["zero_shot"] = score(model, xe, ye, num_classes)
        rec["train_s"], rec["final_loss"] = train(model, xt, yt, args.iters, args.lr, args.batch_size, seed)
        rec[args.split] = score(model, xe, ye, num_classes)
        rec["train_fit"] = score(model, xt[:300], yt[:300], num_classes)
        runs.append(rec)
        print(json.dumps(rec), flush=True)

    def stat(key, sub):
        vals = [r[key][sub] for r in runs if key in r]
        if not vals:
            return "-"
        sd = statistics.pstdev(vals) if len(vals) > 1 else 0.0
        return f"{statistics.mean(vals):6.2f} +- {sd:5.2f}"

    print(f"\n{args.config}  model={args.model}  iters={args.iters} x {args.batch_size}  lr={args.lr}  "
          f"pretrain={args.pretrain_images} images x {args.pretrain_iters} its  seeds={list(args.seeds)}")  # fmt: skip
    print(f"| score | {args.split} mIoU | {args.split} fg IoU | zero-shot mIoU | train-fit mIoU |")
    print(f"| mean +- std | {stat(args.split, 'mIoU')} | {stat(args.split, 'fg_IoU')} | {stat('zero_shot', 'mIoU')} | "
          f"{stat('train_fit', 'mIoU')} |")  # fmt: skip
    out = dict(args=vars(args), runs=runs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--model", default="mit", choices=["mit", "cnn"])
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--pretrain-images", type=int, default=0)
    ap.add_argument("--pretrain-iters", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
