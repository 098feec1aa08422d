"""The README's main job: the whole DDESeg recipe on one config (default: the synthetic CPU dataset).

    python tools/run_pipeline.py [CONFIG] [--work-dir DIR] [--data-root ROOT] [--force STAGE ...]
        [--audio-iters N] [--seg-iters N]

Stages (each skipped when its output exists, unless named in ``--force``; ``--force all`` redoes everything):

0. ``data``:   generate the synthetic dataset (AVSSyntheticDataset writes it into data_root on first use). Other
   datasets must already exist; AVSS-layout datasets take their classes from ``label2idx.json``.
1. ``audio``:  train/fine-tune the audio encoder on frame labels derived from the masks (``AVSAudioClassifier``
   through mmengine's Runner) -> ``<work_dir>/audio_encoder.pth`` (+ val mAP).
2. ``memory``: build the semantic memory from that encoder's features of single-source training frames
   (mmseg_plugin.memory_builder) -> ``<work_dir>/semantic_memory.pth``.
3. ``train``:  train DDESeg with that memory and encoder through mmengine's Runner (the `mim train` path), model
   selection on val -> ``<work_dir>/ddeseg/`` (an interrupted run resumes from its last checkpoint).
4. ``test``:   evaluate the final checkpoint on the test split with AVSMetric (AVSBench per-frame and dataset-level
   conventions) next to an all-background prediction -> ``<work_dir>/summary.json``; the predicted masks
   (AVSMaskWriter) -> ``<work_dir>/test/masks/<clip_id>/<frame_index>.png`` and ``masks.csv``.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from train import (  # noqa: E402
    add_mask_writer,
    apply_avss_classes,
    apply_data_root,
    import_plugin,
    set_cpu_dist_backend,
    shrink_iter_schedule,
)

STAGES = ("data", "audio", "memory", "train", "test")
DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), "configs", "ddeseg_synthetic.py")


def _plain(obj):
    from mmengine.config import ConfigDict

    if isinstance(obj, (ConfigDict, dict)):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def stage_data(cfg) -> dict:
    """Build the three datasets once (the synthetic one generates itself); report sizes and classes."""
    from mmseg.registry import DATASETS

    out = {}
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key, None)
        if loader:
            ds = DATASETS.build(_plain(loader["dataset"]))
            out[key.split("_")[0]] = len(ds)
            out["classes"] = list(ds.metainfo["classes"])
    return out


def _audio_runner_cfg(cfg, work_dir: str, max_iters: int | None):
    from mmseg_plugin.audio_stage import audio_runner_cfg

    return audio_runner_cfg(cfg, work_dir, max_iters)


def stage_audio(cfg, work_dir: str, out: str, max_iters: int | None) -> dict:
    """Stage 1: train AVSAudioClassifier, save the encoder, report val mAP (mmseg_plugin/audio_stage.py)."""
    import torch

    from mmseg_plugin.audio_stage import evaluate_audio_map, train_audio_classifier

    rcfg = _audio_runner_cfg(cfg, osp.join(work_dir, "audio_classifier"), max_iters)
    model, seconds = train_audio_classifier(rcfg)
    torch.save(model.encoder_state_dict(), out)
    res = dict(audio_encoder=out, audio_train_s=round(seconds, 1), audio_iters=rcfg.train_cfg.max_iters)
    if not _plain(cfg.audio_classifier).get("dataset"):
        ev = evaluate_audio_map(model, cfg)
        if ev is not None:
            res["audio_val_mAP"] = ev["mAP"]
            res["audio_val_AP_per_class"] = ev["per_class_AP"]
    return res


def _seg_cfg(cfg, work_dir: str, encoder: str | None, memory: str, seg_iters: int | None):
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.join(work_dir, "ddeseg")
    cfg.semantic_memory_path = memory
    cfg.model.semantic_memory_path = memory
    if encoder:
        cfg.model.net.audio.checkpoint = encoder
    if seg_iters:
        shrink_iter_schedule(cfg, seg_iters)
    set_cpu_dist_backend(cfg)
    cfg.launcher = "none"
    return cfg


def stage_train(cfg) -> dict:
    from mmengine.runner import Runner

    from mmseg_plugin.hooks import mark_work_dir, trust_directory

    trust_directory(cfg.work_dir)
    mark_work_dir(cfg.work_dir)
    cfg.resume = osp.isfile(osp.join(cfg.work_dir, "last_checkpoint"))
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(cfg.work_dir, "last_checkpoint")) as f:
        ckpt = f.read().strip()
    best = sorted(glob.glob(osp.join(cfg.work_dir, "best_*.pth")), key=osp.getmtime)
    if best:  # CheckpointHook(save_best=...) on the val split: model selection never looks at test
        ckpt = best[-1]
    return dict(checkpoint=ckpt, seg_train_s=round(time.time() - t0, 1), seg_iters=runner.iter)


def all_background_metrics(cfg) -> dict:
    """AVSMetric of a prediction that is background everywhere (the floor a model must clear)."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.registry import DATASETS, METRICS

    ds = DATASETS.build(_plain(cfg.test_dataloader["dataset"]))
    metric = METRICS.build(_plain(cfg.test_evaluator))
    metric.dataset_meta = ds.metainfo
    binary = cfg.model.get("task", "semantic") == "binary"
    samples = []
    for i in range(len(ds)):
        s = ds[i]["data_samples"]
        h, w = s.gt_sem_seg.data.shape[-2:]
        s.pred_sem_seg = PixelData(data=torch.zeros(1, h, w, dtype=torch.long))
        c = 1 if binary else len(ds.metainfo["classes"])
        logits = torch.zeros(c, h, w)
        if not binary:
            logits[0] = 1.0
        s.seg_logits = PixelData(data=logits)
        samples.append(s.to_dict())
    metric.process([], samples)
    return metric.evaluate(len(samples))


def stage_test(cfg, checkpoint: str, masks_dir: str) -> dict:
    """Test split metrics of ``checkpoint``; the predicted masks go to ``masks_dir`` (AVSMaskWriter)."""
    from mmengine.runner import Runner

    cfg = copy.deepcopy(cfg)
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.work_dir = osp.join(osp.dirname(cfg.work_dir), "test")
    add_mask_writer(cfg, masks_dir)
    runner = Runner.from_cfg(cfg)
    return runner.test()


def _fmt(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    return f"{v:7.2f}" if isinstance(v, (int, float)) else "      -"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="DDESeg recipe: data -> audio encoder -> memory -> DDESeg -> test")
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG)
    p.add_argument("--work-dir")
    p.add_argument("--data-root")
    p.add_argument("--force", nargs="+", default=[], choices=STAGES + ("all",))
    p.add_argument("--audio-iters", type=int, help="override the stage-1 iterations")
    p.add_argument("--seg-iters", type=int, help="override the DDESeg training iterations (iteration schedules)")
    p.add_argument("--stop-after", choices=STAGES, help="stop after this stage")
    args = p.parse_args(argv)
    force = set(STAGES) if "all" in args.force else set(args.force)
    import_plugin()
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    work_dir = (
        args.work_dir or cfg.get("work_dir", None) or osp.join("work_dirs", osp.splitext(osp.basename(args.config))[0])
    )
    os.makedirs(work_dir, exist_ok=True)
    summary: dict = dict(config=args.config, work_dir=work_dir, timings_s={})
    t_all = time.time()

    # 0. data
    t0 = time.time()
    summary["data"] = stage_data(cfg)
    n = apply_avss_classes(cfg)
    summary["num_classes"] = n or cfg.model.net.num_classes
    summary["timings_s"]["data"] = round(time.time() - t0, 1)
    print(
        f"[data] {summary['data'].get('train')} train / {summary['data'].get('val')} val / "
        f"{summary['data'].get('test')} test frames, {summary['num_classes']} classes"
    )

    if args.stop_after == "data":
        return _finish(summary, work_dir, t_all)

    # 1. audio encoder
    encoder = osp.join(work_dir, "audio_encoder.pth")
    t0 = time.time()
    if cfg.get("audio_classifier", None) is None:
        encoder = None
        print("[audio] config has no `audio_classifier`: the configured audio encoder is used as is")
    elif osp.isfile(encoder) and "audio" not in force:
        print(f"[audio] {encoder} exists: skipped")
    else:
        summary["audio"] = stage_audio(cfg, work_dir, encoder, args.audio_iters)
        print(f"[audio] {summary['audio']}")
        force |= {"memory", "train", "test"}  # downstream outputs depend on the encoder
    summary["timings_s"]["audio"] = round(time.time() - t0, 1)

    if args.stop_after == "audio":
        return _finish(summary, work_dir, t_all)

    # 2. memory
    memory = osp.join(work_dir, "semantic_memory.pth")
    t0 = time.time()
    if osp.isfile(memory) and "memory" not in force:
        print(f"[memory] {memory} exists: skipped")
    else:
        from mmseg_plugin.memory_builder import build_and_save_memory

        mcfg = copy.deepcopy(cfg)
        mb = dict(mcfg.get("memory_builder", None) or {})
        mb["cache_dir"] = osp.join(work_dir, "memory_cache")
        mcfg.memory_builder = mb
        summary["memory"] = build_and_save_memory(mcfg, checkpoint=encoder, out=memory, progress=True)
        print(
            f"[memory] {summary['memory']['n_single']} single-source frames of {summary['memory']['n_items']}, "
            f"{summary['memory']['classes_present']} classes -> {memory}"
        )
        force |= {"train", "test"}
    summary["timings_s"]["memory"] = round(time.time() - t0, 1)

    if args.stop_after == "memory":
        return _finish(summary, work_dir, t_all)

    # 3. DDESeg
    scfg = _seg_cfg(cfg, work_dir, encoder, memory, args.seg_iters)
    done_flag = osp.join(scfg.work_dir, "train_done.json")
    t0 = time.time()
    if osp.isfile(done_flag) and "train" not in force:
        with open(done_flag) as f:
            summary["train"] = json.load(f)
        print(f"[train] {done_flag} exists: skipped")
    else:
        if "train" in force and osp.isfile(done_flag):
            os.remove(done_flag)
        if "train" in force and osp.isfile(osp.join(scfg.work_dir, "last_checkpoint")):
            os.remove(osp.join(scfg.work_dir, "last_checkpoint"))
        summary["train"] = stage_train(scfg)
        with open(done_flag, "w") as f:
            json.dump(summary["train"], f, indent=1)
    summary["timings_s"]["train"] = round(time.time() - t0, 1)

    if args.stop_after == "train":
        return _finish(summary, work_dir, t_all)

    # 4. test + all-background baseline
    t0 = time.time()
    summary["masks"] = osp.join(work_dir, "test", "masks")
    metrics = stage_test(scfg, summary["train"]["checkpoint"], summary["masks"])
    baseline = all_background_metrics(scfg)
    summary["test"] = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    summary["all_background"] = {k: float(v) for k, v in baseline.items() if isinstance(v, (int, float))}
    summary["timings_s"]["test"] = round(time.time() - t0, 1)
    _print_table(summary)
    print(f"predicted test masks: {summary['masks']} (masks.csv lists them)")
    return _finish(summary, work_dir, t_all)


def _print_table(summary: dict) -> None:
    rows = [("DDESeg", summary["test"]), ("all-background", summary["all_background"])]
    print("\n=== test split ===")
    print(f"{'':16s} {'J':>7s} {'F':>7s} {'J&F':>7s} | {'J(ds)':>7s} {'F(ds)':>7s} {'J&F(ds)':>7s}")
    for name, m in rows:
        jk = "avsbench/J" if "avsbench/J" in m else "avsbench/mIoU"
        fk = "avsbench/F" if "avsbench/F" in m else "avsbench/mF"
        djk = "dataset/J" if "dataset/J" in m else "dataset/mIoU"
        dfk = "dataset/F" if "dataset/F" in m else "dataset/mF"
        print(
            f"{name:16s} {_fmt(m, jk)} {_fmt(m, fk)} {_fmt(m, 'avsbench/J&F')} | "
            f"{_fmt(m, djk)} {_fmt(m, dfk)} {_fmt(m, 'dataset/J&F')}"
        )


def _finish(summary: dict, work_dir: str, t_all: float) -> dict:
    summary["timings_s"]["total"] = round(time.time() - t_all, 1)
    print("timings (s):", summary["timings_s"])
    out = osp.join(work_dir, "summary.json")
    with open(out, "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print(f"summary written to {out}")
    return summary


if __name__ == "__main__":
    main()
