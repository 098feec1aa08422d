"""Segment the sounding objects of one clip: a video file, or a folder of frames + its audio -> masks (and overlays).

    python tools/infer.py CONFIG CHECKPOINT --video clip.mp4 --out OUT
        [--sampling rate|every_frame] [--rate 1.0] [--no-overlay-video] [--no-timeline] [--batch-size 4] [--device cpu]
    python tools/infer.py CONFIG CHECKPOINT --frames DIR --audio WAV --out OUT
        [--seconds-per-frame 1.0] [--audio-start 0] [--clip-id ID] [--overlay] [--batch-size 4] [--device cpu]

Video mode (mp4 / mkv / webm / mov with an audio track; PyAV, the ``[video]`` extra) runs
``mmseg_plugin.apis.DDESegInferencer``: frames sampled at ``--rate`` per second (default 1, AVSBench's pairing: sample k
at k s hears [k, k + 1) s) or every frame with a centred 1-s window; writes OUT/masks/<clip_id>/<k>.png (+ masks.csv),
OUT/samples/<clip_id>.csv, OUT/overlay/<clip_id>.mp4 (masks coloured and labelled over every frame, original sound)
and OUT/timeline/<clip_id>.{csv,json,png} (which classes sound in each second). See docs/inference.md.

Frames mode: frame k (natural file order) hears [audio-start + k * s, audio-start + (k + 1) * s) with
s = --seconds-per-frame (AVSBench: 1 frame per second). Writes OUT/masks/<clip_id>/<k>.png (AVSMaskWriter: palette
PNGs of class indices, or 0/255 for binary tasks, at the frames' size) with OUT/masks/masks.csv, and with --overlay
OUT/overlay/<clip_id>/<k>.png (the prediction drawn over the frame). Prints each frame's predicted classes.

Both modes keep the terminal to progress bars and results: mmengine's log and library warnings go to OUT/infer.log
(``--verbose`` prints them as before).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp

from mmseg_plugin.apis.scope import import_plugin


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description="DDESeg inference on a video file, or a folder of frames + its audio file")
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("--video", help="a video file with an audio track (mp4/mkv/webm/mov: anything FFmpeg reads)")
    p.add_argument("--frames", help="folder of the clip's frames (jpg/jpeg/png/bmp); needs --audio")
    p.add_argument("--audio", help="the clip's audio file (WAV/FLAC/OGG: anything soundfile reads)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--sampling",
        choices=("rate", "every_frame"),
        default="rate",
        help="video: frames at --rate per second (default), or every frame with a centred window",
    )
    p.add_argument("--rate", type=float, default=1.0, help="video: frames segmented per second (default 1)")
    p.add_argument("--no-overlay-video", action="store_true", help="video: do not write the overlay video")
    p.add_argument("--no-timeline", action="store_true", help="video: do not write the timeline CSV/JSON/PNG")
    p.add_argument("--verbose", action="store_true", help="print mmengine's log and warnings (default: OUT/infer.log)")
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
    args = p.parse_args(argv)
    if args.video is None and (args.frames is None or args.audio is None):
        p.error("pass --video FILE, or --frames DIR with --audio FILE")
    if args.video is not None and (args.frames is not None or args.audio is not None):
        p.error("--video carries its own sound: do not combine it with --frames / --audio")
    return args


def class_summary(pred, names) -> str:
    import torch

    counts = torch.bincount(pred.reshape(-1), minlength=len(names)).tolist()
    total = max(1, sum(counts))
    parts = [f"{names[c]} {100.0 * n / total:.1f}%" for c, n in enumerate(counts) if n and c != 0]
    return ", ".join(parts) if parts else "background only"


def main(argv=None):
    args = parse_args(argv)
    import_plugin()
    from mmseg_plugin.quiet import quiet_logs

    os.makedirs(args.out, exist_ok=True)
    log = osp.join(args.out, "infer.log")
    if args.video is not None:
        with quiet_logs(log, args.verbose):
            result = infer_video(args)
    else:
        with quiet_logs(log, args.verbose):
            result = infer_frames(args)
    if not args.verbose:
        print(f"full log (mmengine, warnings): {log}")
    return result


def infer_video(args) -> dict:
    """--video: DDESegInferencer on the file; prints the per-second timeline (first seconds) and the files."""
    from mmseg_plugin.apis import DDESegInferencer
    from mmseg_plugin.quiet import stdout_to_log

    cfg_options = dict(args.cfg_options) if args.cfg_options else None
    with stdout_to_log():  # mmengine prints "Loads checkpoint by ..." with print()
        inferencer = DDESegInferencer(args.config, args.checkpoint, args.device, args.batch_size, cfg_options)
    result = inferencer(
        args.video,
        out_dir=args.out,
        sampling=args.sampling,
        rate=args.rate,
        clip_id=args.clip_id,
        overlay=not args.no_overlay_video,
        timeline=not args.no_timeline,
        return_masks=False,
    )
    rows = result["timeline"]
    print(f"{args.video}: {result['num_samples']} frames segmented ({args.sampling}, rate {args.rate}/s)")
    for r in rows[:20]:
        print(f"  {r['second']:5d} s: {', '.join(r['sounding']) or 'silence / background only'}")
    if len(rows) > 20:
        print(f"  ... {len(rows) - 20} more seconds in the timeline files")
    for key, path in result["files"].items():
        print(f"{key}: {path}")
    return result


def infer_frames(args) -> list:
    from mmengine.config import Config

    from mmseg_plugin.apis.inference import clip_frame_items, init_model, predict_clip
    from mmseg_plugin.evaluation import AVSMaskWriter
    from mmseg_plugin.quiet import stdout_to_log

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    items = clip_frame_items(args.frames, args.audio, args.seconds_per_frame, args.audio_start, args.clip_id)
    with stdout_to_log():
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
