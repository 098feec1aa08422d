"""Config helpers of the command lines and the recipe: re-rooting the data, the AVSS-layout class count, shrinking an
iteration schedule, the CPU distributed backend and the test-mask writer."""

from __future__ import annotations

import json
import os.path as osp

AVSS_LAYOUT_DATASETS = ("AVSSemanticDataset", "AVSSyntheticDataset", "DDESegOfficialAVSSDataset")


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
