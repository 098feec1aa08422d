"""Evaluate a trained DDESeg checkpoint on the config's test split (AVSMetric, both conventions).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--data-root ROOT] [--out metrics.json]
        [--cfg-options k=v ...] [--save-masks DIR] [--show-dir DIR [--show-interval N]]
    torchrun --nproc_per_node 2 tools/test.py CONFIG CHECKPOINT --launcher pytorch

Same path as `mim test mmseg CONFIG --checkpoint CHECKPOINT`. The checkpoint's folder is trusted for full unpickling
(it is one of your own runs); third-party files are read weights-only.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp

from mmseg_plugin.apis.config_helpers import (
    add_mask_writer,
    apply_avss_classes,
    apply_data_root,
    set_cpu_dist_backend,
)
from mmseg_plugin.apis.distributed import process_group
from mmseg_plugin.apis.scope import import_plugin


def enable_drawing(cfg, show_dir: str, interval: int) -> None:
    """What mmseg's ``--show-dir`` does, with the AVS hook: draw every ``interval``-th batch into ``show_dir``."""
    hooks = cfg.get("default_hooks", None) or {}
    vis = hooks.get("visualization", None)
    if vis is None or vis.get("type") not in ("AVSVisualizationHook", "SegVisualizationHook"):
        raise ValueError(f"--show-dir: default_hooks.visualization must be an AVSVisualizationHook, got {vis!r}")
    if interval < 1:
        raise ValueError(f"--show-interval must be >= 1, got {interval}")
    vis.update(type="AVSVisualizationHook", draw=True, interval=interval)
    cfg.visualizer["save_dir"] = show_dir


def main(argv=None) -> dict:
    from mmengine.config import Config, DictAction

    p = argparse.ArgumentParser(description="Test DDESeg (mmengine Runner)")
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("--work-dir")
    p.add_argument("--data-root")
    p.add_argument("--out", help="write the metrics as JSON here")
    p.add_argument(
        "--save-masks",
        metavar="DIR",
        help="also write every predicted mask as a PNG under DIR/<clip_id>/<frame_index>.png, with DIR/masks.csv",
    )
    p.add_argument(
        "--show-dir",
        metavar="DIR",
        help="draw ground truth | prediction over each frame (AVSVisualizationHook) into DIR/vis_data/vis_image",
    )
    p.add_argument("--show-interval", type=int, default=1, help="with --show-dir: draw every N-th batch (default 1)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides (mmengine DictAction)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = p.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    import_plugin()
    from mmengine.runner import Runner

    from mmseg_plugin.hooks import trust_directory

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    apply_avss_classes(cfg)
    cfg.launcher = args.launcher
    cfg.work_dir = (
        args.work_dir
        or cfg.get("work_dir", None)
        or osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    )
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.save_masks:
        add_mask_writer(cfg, args.save_masks)
    if args.show_dir:
        enable_drawing(cfg, args.show_dir, args.show_interval)
    set_cpu_dist_backend(cfg)
    trust_directory(osp.dirname(osp.abspath(args.checkpoint)))
    with process_group(cfg):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    if args.out and int(os.environ.get("RANK", "0")) == 0:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else str(v) for k, v in metrics.items()}, f, indent=1)
    return metrics


if __name__ == "__main__":
    main()
