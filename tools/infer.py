"""Segment the sounding objects of one clip: a folder of frames + its audio -> masks (and overlays).

    python tools/infer.py CONFIG CHECKPOINT --frames DIR --audio WAV --out OUT
        [--seconds-per-frame 1.0] [--audio-start 0] [--clip-id ID] [--overlay] [--batch-size 4] [--device cpu]

Frame k (natural file order) hears [audio-start + k * s, audio-start + (k + 1) * s) with s = --seconds-per-frame
(AVSBench: 1 frame per second). Writes OUT/masks/<clip_id>/<k>.png (AVSMaskWriter: palette PNGs of class indices,
or 0/255 for binary tasks, at the frames' size) with OUT/masks/masks.csv, and with --overlay
OUT/overlay/<clip_id>/<k>.png (the prediction drawn over the frame). Prints each frame's predicted classes.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from train import import_plugin  # noqa: E402


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description="DDESeg inference on a folder of frames and one audio file")
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("--frames", required=True, help="folder of the clip's frames (jpg/jpeg/png/bmp)")
    p.add_argument("--audio", required=True, help="the clip's audio file (WAV/FLAC/OGG: anything soundfile reads)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seconds-per-frame", type=float, default=1.0)
    p.add_argument("--audio-start", type=float, default=0.0, help="where frame 0's window starts (s)")
    p.add_argument(
        "--clip-id",
        help="name of the clip in the outputs (default: the frames folder's name; its parent's for <clip>/frames)",
    )
    p.add_argument("--overlay", action="store_true", help="also draw each prediction over its frame")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides (mmengine DictAction)")
    return p.parse_args(argv)


def class_summary(pred, names) -> str:
    import torch

    counts = torch.bincount(pred.reshape(-1), minlength=len(names)).tolist()
    total = max(1, sum(counts))
    parts = [f"{names[c]} {100.0 * n / total:.1f}%" for c, n in enumerate(counts) if n and c != 0]
    return ", ".join(parts) if parts else "background only"


def main(argv=None) -> list:
    args = parse_args(argv)
    import_plugin()
    from mmengine.config import Config

    from mmseg_plugin.evaluation import AVSMaskWriter
    from mmseg_plugin.inference import clip_frame_items, init_model, predict_clip

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    items = clip_frame_items(args.frames, args.audio, args.seconds_per_frame, args.audio_start, args.clip_id)
    model, meta = init_model(cfg, args.checkpoint, args.device)
    task = cfg.model.get("task", "semantic")
    if meta is None or not meta.get("classes"):
        n = 2 if task == "binary" else int(cfg.model.net.num_classes)
        meta = dict(classes=tuple(["background"] + [f"class_{i}" for i in range(1, n)]))
    outputs = predict_clip(model, cfg, items, args.batch_size)

    writer = AVSMaskWriter(osp.join(args.out, "masks"), task=task)
    writer.dataset_meta = meta
    writer.process(None, outputs)
    writer.evaluate(len(outputs))
    names = list(meta["classes"])
    for item, out in zip(items, outputs):
        name = osp.basename(item["img_path"])
        print(f"frame {item['frame_index']} ({name}): {class_summary(out.pred_sem_seg.data, names)}")
    if args.overlay:
        draw_overlays(outputs, meta, osp.join(args.out, "overlay"))
    print(f"masks: {osp.join(args.out, 'masks')} ({len(outputs)} frames)" + (" + overlays" if args.overlay else ""))
    return outputs


def draw_overlays(outputs, meta: dict, folder: str) -> None:
    """The prediction over each frame, OUT/overlay/<clip_id>/<k>.png (mmseg's SegLocalVisualizer colours)."""
    import mmcv
    from mmseg.visualization import SegLocalVisualizer

    from mmseg_plugin.hooks.visualization_hook import sample_at_frame_size

    vis = SegLocalVisualizer(name=f"ddeseg_infer_{id(outputs)}")
    vis.dataset_meta = dict(classes=meta["classes"], palette=meta.get("palette"))
    for out in outputs:
        img = mmcv.imread(out.img_path, channel_order="rgb")
        sample = sample_at_frame_size(out, img.shape[:2])
        path = osp.join(folder, str(out.clip_id), f"{int(out.frame_index)}.png")
        os.makedirs(osp.dirname(path), exist_ok=True)
        vis.add_datasample("overlay", img, data_sample=sample, draw_gt=False, out_file=path)


if __name__ == "__main__":
    main()
