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
on the split (zero-shot) and then fine-tunes it (the recipe's stage "visual", :mod:`mmseg_plugin.visual_stage`, whose
training loop and scores this benchmark uses). Scores, in percent: dataset-level mean IoU over the foreground
classes (intersections and unions summed over the split), the foreground-vs-background IoU (objectness, class
ignored) and the same mIoU on up to 300 training frames (fit). One run per seed; prints mean +- std over seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn


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


def build_model(cfg, kind: str, num_classes: int) -> nn.Module:
    from ddeseg_layers.mit_backbone import MiTBackbone
    from mmseg_plugin.visual_stage import VisualSegmenter, encoder_geometry

    geometry, head_dim = encoder_geometry(cfg)
    if kind == "mit":
        enc = MiTBackbone(geometry)
        widths = enc.embed_dims
    elif kind == "cnn":
        widths = list(geometry.get("embed_dims", (16, 32, 64, 128)))
        enc = ConvEncoder(widths)
    else:
        raise ValueError(f"--model must be 'mit' or 'cnn', got {kind!r}")
    return VisualSegmenter(enc, widths, num_classes, head_dim)


def run(args) -> dict:
    from mmengine.config import Config

    from mmseg_plugin.apis.scope import import_plugin
    from mmseg_plugin.visual_stage import image_normalisation, segmenter_scores, train_segmenter

    import_plugin()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    xt, yt = load_visible(cfg, "train")
    xe, ye = load_visible(cfg, args.split)
    num_classes = int(max(yt.max(), ye.max())) + 1
    mean, std = image_normalisation(cfg)  # the config's data_preprocessor, as DDESeg sees the images

    def train(model, x, y, iters, lr, bs, seed):
        return train_segmenter(model, x, y, iters, lr, bs, seed, mean=mean, std=std)

    def score(model, x, y, k):
        return segmenter_scores(model, x, y, k, mean=mean, std=std)

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
