"""Train a DDESeg config with mmengine's Runner (the same path `mim train mmseg CONFIG` takes).

    python tools/train.py configs/ddeseg_synthetic.py [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--data-root ROOT] [--cfg-options k=v ...] [--launcher pytorch]
    torchrun --nproc_per_node 2 tools/train.py configs/ddeseg_synthetic.py --launcher pytorch

Differences from mmseg's tools/train.py: ``--data-root`` re-roots every dataloader (and, for AVSS-layout datasets,
reads the classes from ``label2idx.json``); the distributed backend falls back to gloo without CUDA; the work_dir is
trusted for resuming the run's own checkpoints (torch >= 2.6 weights_only, see docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

AVSS_LAYOUT_DATASETS = ("AVSSemanticDataset", "AVSSyntheticDataset", "DDESegOfficialAVSSDataset")


def import_plugin() -> None:
    """Import the plugin (registrations + the run-checkpoint loader)."""
    import mmseg_plugin  # noqa: F401
    import mmseg_plugin.hooks  # noqa: F401
    import mmseg_plugin.models  # noqa: F401


def apply_data_root(cfg, root: str) -> None:
    """Point ``data_root`` and every dataloader's dataset at ``root``."""
    cfg.data_root = root
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key, None)
        if loader:
            loader["dataset"]["data_root"] = root


def apply_avss_classes(cfg) -> int | None:
    """For an AVSS-layout training set, set the class count everywhere from ``<data_root>/label2idx.json``.

    Returns the class count (background included), or None when the dataset is not in the AVSS layout or the file
    does not exist yet (the synthetic set is generated on first use).
    """
    ds = cfg.train_dataloader.dataset
    if ds.get("type") not in AVSS_LAYOUT_DATASETS or cfg.model.get("task", "semantic") != "semantic":
        return None
    path = osp.join(ds["data_root"], ds.get("label2idx", "label2idx.json"))
    if not osp.isfile(path):
        return None
    with open(path) as f:
        n = len(json.load(f))
    cfg.model.net.num_classes = n
    cfg.model.net.memory.num_classes = n
    clf = cfg.get("audio_classifier", None)
    if clf and clf.get("model", None) and clf.model.get("num_classes", None):
        clf.model.num_classes = n
    return n


def set_cpu_dist_backend(cfg) -> None:
    import torch

    if not torch.cuda.is_available():
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"


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
        cfg.train_cfg.max_iters = args.max_iters
        for sch in cfg.param_scheduler:
            if sch.get("end", 0) > args.max_iters:
                sch["end"] = args.max_iters
            if sch.get("T_max", 0) and sch.get("begin", 0) < args.max_iters:
                sch["T_max"] = max(1, args.max_iters - sch.get("begin", 0))
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
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == "__main__":
    sys.exit(main())
