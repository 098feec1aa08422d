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
import contextlib
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
    from mmseg_plugin.memory_builder import ensure_mmseg_scope

    ensure_mmseg_scope()


def apply_data_root(cfg, root: str) -> None:
    """Point ``data_root`` and every dataloader's dataset at ``root``."""
    cfg.data_root = root
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key, None)
        if loader:
            loader["dataset"]["data_root"] = root


def apply_avss_classes(cfg) -> int | None:
    """For an AVSS-layout training set, set the class count everywhere from ``<data_root>/label2idx.json``.

    The synthetic set is generated here if it does not exist yet. Returns the class count (background included), or
    None when the dataset is not in the AVSS layout or has no label2idx.json.
    """
    ds = cfg.train_dataloader.dataset
    if ds.get("type") not in AVSS_LAYOUT_DATASETS or cfg.model.get("task", "semantic") != "semantic":
        return None
    path = osp.join(ds["data_root"], ds.get("label2idx", "label2idx.json"))
    if not osp.isfile(path) and ds.get("type") == "AVSSyntheticDataset":
        from mmseg_plugin.synthetic import generate_synthetic_set  # generated on first use, as the dataset does

        generate_synthetic_set(ds["data_root"], preset=ds.get("preset", "basic"), seed=ds.get("seed", 0),
                               **dict(ds.get("generator", None) or {}))  # fmt: skip
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


def shrink_iter_schedule(cfg, max_iters: int) -> None:
    """Rescale an iteration-based schedule to ``max_iters``: scheduler boundaries scale proportionally (a
    scheduler squeezed to zero length is dropped), validation and checkpoints happen at the end (and halfway)."""
    if cfg.train_cfg.get("type") not in ("IterBasedTrainLoop", "AVSIterBasedTrainLoop"):
        raise ValueError("--max-iters / --seg-iters need an iteration-based schedule (IterBasedTrainLoop)")
    old = int(cfg.train_cfg.max_iters)
    scale = max_iters / old
    kept = []
    for sch in cfg.param_scheduler:
        begin = int(round(sch.get("begin", 0) * scale))
        end = min(max_iters, int(round(min(sch.get("end", old), old) * scale)))
        if end <= begin:
            continue
        sch["begin"], sch["end"] = begin, end
        if "T_max" in sch:
            sch["T_max"] = end - begin
        kept.append(sch)
    cfg.param_scheduler = kept
    cfg.train_cfg.max_iters = max_iters
    if cfg.train_cfg.get("val_interval", None):
        cfg.train_cfg.val_interval = max_iters
    ck = cfg.default_hooks.get("checkpoint", None)
    if ck is not None:
        ck["interval"] = max(1, min(int(ck.get("interval", max_iters)), max_iters // 2 or 1))


def add_mask_writer(cfg, output_dir: str) -> None:
    """Append an ``AVSMaskWriter`` to the test evaluator (a single metric dict becomes a list)."""
    ev = cfg.test_evaluator
    metrics = list(ev) if isinstance(ev, (list, tuple)) else [ev]
    if isinstance(ev, dict) and ev.get("type") == "Evaluator":
        raise ValueError("--save-masks: the config's test_evaluator is an Evaluator dict; add AVSMaskWriter to it")
    cfg.test_evaluator = metrics + [dict(type="AVSMaskWriter", output_dir=output_dir)]


def set_cpu_dist_backend(cfg) -> None:
    """Without CUDA: gloo backend and a CPU DistributedDataParallel (``device_ids=None``)."""
    import torch

    if not torch.cuda.is_available():
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
        if cfg.get("launcher", "none") != "none" and cfg.get("model_wrapper_cfg", None) is None:
            cfg.model_wrapper_cfg = dict(
                type="MMDistributedDataParallel",
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=cfg.get("find_unused_parameters", False),
            )


def dist_timeout(cfg):
    """``env_cfg.dist_cfg.timeout`` (seconds, mmengine's key) as a timedelta, or None when the config sets none."""
    import datetime

    timeout = (cfg.get("env_cfg", None) or {}).get("dist_cfg", {}).get("timeout", None)
    if timeout is None:
        return None
    if float(timeout) <= 0:
        raise ValueError(f"env_cfg.dist_cfg.timeout must be > 0 seconds, got {timeout!r}")
    return datetime.timedelta(seconds=float(timeout))


def init_cpu_process_group(cfg) -> None:
    """mmengine 0.10.7's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` unconditionally; on a machine
    without CUDA, start the gloo process group here (the Runner then finds it initialised and skips its own).

    The group's timeout is ``env_cfg.dist_cfg.timeout`` (seconds; mmengine passes the same key to its own
    ``init_process_group``) when the config sets it, else torch's default (30 min for gloo): a rank blocked in a
    collective whose peer died then raises after it, also under launchers that do not stop the other ranks."""
    import torch
    import torch.distributed as dist

    if cfg.get("launcher", "none") == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        timeout = dist_timeout(cfg)
        dist.init_process_group(backend="gloo", **({} if timeout is None else dict(timeout=timeout)))


def record_rank_failure(exc: BaseException) -> None:
    """Under torchrun, write ``exc`` to this rank's ``TORCHELASTIC_ERROR_FILE`` (what torch.distributed.elastic's
    ``@record`` does), so the launcher's failure summary names the rank, the exception and its message instead of
    ``error_file: <N/A>``. No-op outside torchrun."""
    if not os.environ.get("TORCHELASTIC_ERROR_FILE"):
        return
    try:
        from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

        ErrorHandler().record_exception(exc)
    except Exception as rec_exc:  # never hide the run's own error behind a reporting failure
        print(f"train.py: could not record the error for the launcher: {rec_exc}", file=sys.stderr)


@contextlib.contextmanager
def process_group(cfg):
    """Start the process group where mmengine cannot (see ``init_cpu_process_group``) and tear it down after a run.

    mmengine never calls ``destroy_process_group``. A gloo group still alive at interpreter finalisation can abort the
    process (SIGABRT, "terminate called without an active exception") after a run that finished correctly: its
    worker threads still hold work objects whose tensors need the GIL while the interpreter is torn down (pytorch
    issue 190489, the abandoned atexit fix in PR 179291). After a successful run the ranks meet at a barrier, so
    none tears down while another is still in a collective, and destroy the group. After an error nothing is torn
    down: the barrier would wait for the failed rank, and destroying while peers are in a collective can deadlock
    (torchtitan PR 1342); the error is recorded for torchrun (``record_rank_failure``) and propagates, and the
    launcher stops the other ranks (torchrun's agent terminates them as soon as one rank exits non-zero; under a
    launcher that does not, the peers' next collective fails when the failed rank's connections close, or at the
    latest after ``env_cfg.dist_cfg.timeout``).
    """
    import torch.distributed as dist

    init_cpu_process_group(cfg)
    try:
        yield
    except Exception as exc:
        record_rank_failure(exc)
        raise
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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
