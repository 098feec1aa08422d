"""Train a DDESeg config with mmengine's Runner (the same path `mim train mmseg CONFIG` takes).

    python tools/train.py configs/ddeseg_synthetic.py [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--data-root ROOT] [--cfg-options k=v ...] [--launcher pytorch]
    torchrun --nproc_per_node 2 tools/train.py configs/ddeseg_synthetic.py --launcher pytorch

Differences from mmseg's tools/train.py: ``--data-root`` re-roots every dataloader (and, for AVSS-layout datasets,
reads the classes from ``label2idx.json``); the distributed backend falls back to gloo without CUDA; the work_dir is
trusted for resuming the run's own checkpoints (torch >= 2.6 weights_only, see docs/training.md). The helpers live in
``mmseg_plugin.apis`` (``config_helpers``, ``distributed``, ``scope``).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from mmseg_plugin.apis.config_helpers import (
    apply_avss_classes,
    apply_data_root,
    set_cpu_dist_backend,
    shrink_iter_schedule,
)
from mmseg_plugin.apis.distributed import process_group
from mmseg_plugin.apis.scope import import_plugin


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description="Train DDESeg (mmengine Runner)")
    p.add_argument("config")
    p.add_argument("--work-dir")
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="resume from CKPT, or from the work_dir's last checkpoint when no path is given",
    )
    p.add_argument("--amp", action="store_true", help="automatic mixed precision (AmpOptimWrapper)")
    p.add_argument("--data-root", help="dataset root for every split (AVSS layout: classes from label2idx.json)")
    p.add_argument("--max-iters", type=int, help="override an iteration-based schedule's max_iters")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides (mmengine DictAction)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    p.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = p.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def build_cfg(args):
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    apply_avss_classes(cfg)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    if args.max_iters:
        shrink_iter_schedule(cfg, args.max_iters)
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if args.resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    set_cpu_dist_backend(cfg)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    import_plugin()
    from mmengine.runner import Runner

    from mmseg_plugin.hooks import mark_work_dir, trust_directory

    cfg = build_cfg(args)
    trust_directory(cfg.work_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        mark_work_dir(cfg.work_dir)
    with process_group(cfg):
        runner = Runner.from_cfg(cfg)
        runner.train()


if __name__ == "__main__":
    sys.exit(main())
