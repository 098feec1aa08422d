"""The recipe's stages (data -> [visual / audio pre-training] -> audio encoder -> semantic memory -> DDESeg -> test,
diagnostics) and the run that chains them, as ``tools/run_pipeline.py`` runs it (its docstring describes every stage
and output).

The terminal shows one progress bar per stage, the stage lines and the final table; mmengine's log and library
warnings go to ``<work_dir>/run_pipeline.log`` unless ``verbose`` (mmseg_plugin/quiet.py).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import glob
import json
import os
import os.path as osp
import time
from typing import Sequence

from .config_helpers import (
    add_mask_writer,
    apply_avss_classes,
    apply_data_root,
    set_cpu_dist_backend,
    shrink_iter_schedule,
)
from .scope import import_plugin

STAGES = ("data", "visual", "audio_pretrain", "audio", "memory", "train", "test")
SHOW_PROGRESS = False  # progress bars per stage: on for the duration of a quiet run_pipeline() (not with --verbose)


def _progress_off() -> None:
    global SHOW_PROGRESS
    SHOW_PROGRESS = False


def _plain(obj):
    from mmseg_plugin.config_utils import plain

    return plain(obj)


@contextlib.contextmanager
def _bar(total: int, desc: str, unit: str = "step"):
    """A progress bar for a stage made of a few steps; library prints go to the log (nothing with --verbose)."""
    from mmseg_plugin.quiet import progress, stdout_to_log

    with progress(total=total, desc=desc, unit=unit, disable=not SHOW_PROGRESS) as bar, stdout_to_log():
        yield bar


def _with_progress_hook(cfg, desc: str):
    """``cfg`` with a StageProgressHook (train / val / test bars) when progress bars are on; only draws."""
    if not SHOW_PROGRESS:
        return cfg
    import mmseg_plugin.progress_hook  # noqa: F401  (registers StageProgressHook)

    cfg = copy.deepcopy(cfg)
    cfg.custom_hooks = list(cfg.get("custom_hooks", None) or []) + [dict(type="StageProgressHook", desc=desc)]
    # the run's dumped config must build again elsewhere (tools/test.py, mim): it imports the hook's module
    imports = dict(cfg.get("custom_imports", None) or dict(imports=[], allow_failed_imports=False))
    imports["imports"] = list(imports.get("imports", [])) + ["mmseg_plugin.progress_hook"]
    cfg.custom_imports = imports
    return cfg


def stage_data(cfg) -> dict:
    """Build the three datasets once (the synthetic one generates itself); report sizes and classes."""
    from mmseg.registry import DATASETS

    out = {}
    with _bar(3, "data", unit="split") as bar:
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            loader = cfg.get(key, None)
            if loader:
                ds = DATASETS.build(_plain(loader["dataset"]))
                out[key.split("_")[0]] = len(ds)
                out["classes"] = list(ds.metainfo["classes"])
            bar.update(1)
    return out


def stage_visual(cfg, out: str) -> dict:
    """Stage "visual" (opt-in, a config's ``visual_pretrain``): pre-train the image encoder on the independent sprite
    set and save a SegFormer-format checkpoint (mmseg_plugin/visual_stage.py)."""
    from mmseg_plugin.visual_stage import pretrain_visual_encoder, visual_settings

    with _bar(int(visual_settings(cfg)["iters"]), "visual encoder") as bar:
        return pretrain_visual_encoder(cfg, out, progress=bar.update)


def _audio_runner_cfg(cfg, work_dir: str, max_iters: int | None):
    from mmseg_plugin.audio_stage import audio_runner_cfg

    return audio_runner_cfg(cfg, work_dir, max_iters)


def stage_audio_pretrain(cfg, out: str) -> dict:
    """Stage "audio_pretrain" (opt-in, a config's ``audio_pretrain``): pre-train the stage-1 encoder on the
    independent voice-clip set and save its weights (mmseg_plugin/audio_pretrain.py)."""
    from mmseg_plugin.audio_pretrain import audio_pretrain_settings, pretrain_audio_encoder

    with _bar(int(audio_pretrain_settings(cfg)["iters"]), "audio pre-training") as bar:
        return pretrain_audio_encoder(cfg, out, progress=bar.update)


def stage_audio(cfg, work_dir: str, out: str, max_iters: int | None, pretrained: str | None = None) -> dict:
    """Stage 1: train AVSAudioClassifier (from ``pretrained`` encoder weights when given: stage "audio_pretrain"'s
    output), save the encoder, report val mAP (mmseg_plugin/audio_stage.py)."""
    import torch

    from mmseg_plugin.audio_stage import evaluate_audio_map, train_audio_classifier
    from mmseg_plugin.hooks import mark_work_dir

    rcfg = _audio_runner_cfg(cfg, osp.join(work_dir, "audio_classifier"), max_iters)
    if pretrained:
        rcfg.model.audio.checkpoint = pretrained
    mark_work_dir(rcfg.work_dir)  # its runner checkpoints are read back (unpickled) by the diagnostics' heard row
    model, seconds = train_audio_classifier(_with_progress_hook(rcfg, "audio encoder"))
    torch.save(model.encoder_state_dict(), out)
    res = dict(audio_encoder=out, audio_train_s=round(seconds, 1), audio_iters=rcfg.train_cfg.max_iters)
    if pretrained:
        res["audio_init"] = pretrained
    if not _plain(cfg.audio_classifier).get("dataset"):
        ev = evaluate_audio_map(model, cfg)
        if ev is not None:
            res["audio_val_mAP"] = ev["mAP"]
            res["audio_val_AP_per_class"] = ev["per_class_AP"]
    return res


def apply_seed(cfg, seed: int) -> None:
    """One training seed for every stage: the runner's ``randomness.seed`` (DDESeg: initialisation, sampler order,
    per-iteration draws), the audio stage's and the memory builder's (k-means) seeds."""
    cfg.randomness = dict(cfg.get("randomness", None) or {}, seed=int(seed))
    if cfg.get("audio_classifier", None) is not None:
        cfg.audio_classifier["seed"] = int(seed)
    cfg.memory_builder = dict(cfg.get("memory_builder", None) or {}, seed=int(seed))
    if cfg.get("visual_pretrain", None):
        cfg.visual_pretrain["seed"] = int(seed)
    if cfg.get("audio_pretrain", None):
        cfg.audio_pretrain["seed"] = int(seed)


def _cached_stage(name: str, out: str, force: set, summary: dict, key: str, run, describe) -> bool:
    """A pre-training stage whose output is one file: skipped when ``out`` exists and ``name`` is not forced (its
    report read back from ``out + ".json"`` into ``summary[key]``), else ``run()``, its report written beside the
    file and ``describe(report)`` printed. Returns True when the stage ran (downstream stages must then rerun)."""
    if osp.isfile(out) and name not in force:
        print(f"[{name}] {out} exists: skipped")
        if osp.isfile(out + ".json"):
            with open(out + ".json") as f:
                summary[key] = json.load(f)
        return False
    report = summary[key] = run()
    with open(out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    print(f"[{name}] {describe(report)} -> {out}")
    return True


def _check_head_classes(cfg, summary: dict, visual: str) -> None:
    """A config that loads stage "visual"'s decode head (``model.net.pretrained.head``) must segment the sprite set's
    classes, in the same order after the background: ValueError naming both lists otherwise."""
    if not (cfg.model.net.get("pretrained", None) or {}).get("head"):
        return
    sprite = (summary.get("visual_stage") or {}).get("sprite_classes")
    if sprite is None:  # a cached stage without its .json: the checkpoint's own record
        from ddeseg_layers.checkpoint import read_weights_only

        sprite = (read_weights_only(visual, what="stage 'visual' checkpoint").get("meta") or {}).get("sprite_classes")
    classes = list(summary["data"].get("classes") or [])
    if sprite is None or classes[1:] != list(sprite):
        raise ValueError(
            f"{cfg.filename}: model.net.pretrained.head loads the decode head stage 'visual' trained on the sprite "
            f"classes {sprite} ({visual}), but this dataset's classes after the background are {classes[1:]}; "
            "remove pretrained.head (the encoder still transfers) or train on a dataset with those classes"
        )


def _seg_cfg(cfg, work_dir: str, encoder: str | None, memory: str, seg_iters: int | None, visual: str | None = None):
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.join(work_dir, "ddeseg")
    if visual:  # the pre-trained image encoder, loaded like ImageNet weights (audio parts stay initialised); the
        # stage's decode head too when the config asks for it (pretrained.head; same classes, see _check_head_classes)
        pre = dict(cfg.model.net.get("pretrained", None) or {}, encoder=visual)
        if pre.get("head"):
            pre["head"] = visual
        cfg.model.net.pretrained = pre
    if memory:  # None: the config's supplied bank (model.net.pretrained.memory)
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
    runner = Runner.from_cfg(_with_progress_hook(cfg, "DDESeg"))
    runner.train()
    with open(osp.join(cfg.work_dir, "last_checkpoint")) as f:
        ckpt = f.read().strip()
    best = sorted(glob.glob(osp.join(cfg.work_dir, "best_*.pth")), key=osp.getmtime)
    if best:  # CheckpointHook(save_best=...) on the val split: model selection never looks at test
        ckpt = best[-1]
    # the last validation's metrics (mmengine's RuntimeInfoHook keeps them as "val/<key>" in the message hub)
    final_val = {
        k[len("val/") :]: float(v.current())
        for k, v in runner.message_hub.log_scalars.items()
        if k.startswith("val/") and isinstance(v.current(), (int, float))
    }
    return dict(
        checkpoint=ckpt, seg_train_s=round(time.time() - t0, 1), seg_iters=runner.iter, final_val=final_val or None
    )


def all_background_metrics(cfg, split: str = "test") -> dict:
    """AVSMetric of a prediction that is background everywhere (the floor a model must clear)."""
    from mmseg_plugin.diagnostics import all_background_metrics as floor

    return floor(cfg, split)


def stage1_baseline_map(cfg, work_dir: str) -> float | None:
    """Val mAP of the log-mel CNN audio-tagging baseline trained in stage 1's budget, shown beside the stage-1
    encoder's (mmseg_plugin/audio_stage.py; cached in ``<work_dir>/audio_baseline.json``). None: the config has no
    stage 1 or no val/test split."""
    from mmseg_plugin.audio_stage import stage1_baseline_map as baseline_map

    return baseline_map(cfg, work_dir, seed=int((cfg.get("randomness", None) or {}).get("seed", 0) or 0))


def stage1_classifier_checkpoint(work_dir: str) -> str | None:
    """The stage-1 classifier's runner checkpoint of a pipeline run (``<work_dir>/audio_classifier/last_checkpoint``
    names it), or None when stage 1 did not run there (or its checkpoint is gone)."""
    marker = osp.join(work_dir, "audio_classifier", "last_checkpoint")
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    if not osp.isfile(path):
        return None
    from mmseg_plugin.hooks import trust_directory

    trust_directory(osp.dirname(path))  # the pipeline's own stage-1 run (older runs lack the folder's marker)
    return path


def stage_diagnostics(cfg, checkpoint: str, seed: int, classifier: str | None = None) -> dict:
    """The test-split rows beside the model: visual-only oracle (None for real datasets), audio zeroed / shuffled,
    the model's masks with the sounding classes given (class oracle) and, when ``classifier`` (the stage-1
    classifier's checkpoint) is given, with the classes its tagger hears (``class_heard``; None for binary tasks)."""
    from mmseg_plugin.diagnostics import (
        audio_dependence,
        class_oracle_metrics,
        heard_class_metrics,
        load_model,
        metric_subset,
        visual_oracle_metrics,
    )

    out = dict(visual_oracle=metric_subset(visual_oracle_metrics(cfg, "test")))
    if out["visual_oracle"] is None:
        out["visual_oracle_absent"] = "not a synthetic set: no visible-objects maps"
    model = load_model(cfg, checkpoint)  # shared by the re-evaluations
    dep = audio_dependence(cfg, checkpoint, seed=seed, model=model)
    out["audio_zeroed"] = metric_subset(dep["zeroed"])
    out["audio_shuffled"] = metric_subset(dep["shuffled"])
    out["shuffle_seed"] = seed
    out["class_oracle"] = metric_subset(class_oracle_metrics(cfg, checkpoint, "test", model=model))
    if classifier is not None:
        out["class_heard"] = metric_subset(heard_class_metrics(cfg, checkpoint, classifier, model=model))
        out["class_heard_classifier"] = classifier
    return out


def stage_test(cfg, checkpoint: str, masks_dir: str) -> dict:
    """Test split metrics of ``checkpoint``; the predicted masks go to ``masks_dir`` (AVSMaskWriter)."""
    from mmengine.runner import Runner

    cfg = copy.deepcopy(cfg)
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.work_dir = osp.join(osp.dirname(cfg.work_dir), "test")
    add_mask_writer(cfg, masks_dir)
    runner = Runner.from_cfg(_with_progress_hook(cfg, "test"))
    return runner.test()


def _fmt(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    return f"{v:7.2f}" if isinstance(v, (int, float)) else "      -"


def run_pipeline(
    config: str,
    work_dir: str | None = None,
    data_root: str | None = None,
    force: Sequence[str] = (),
    audio_iters: int | None = None,
    seg_iters: int | None = None,
    stop_after: str | None = None,
    no_diagnostics: bool = False,
    shuffle_seed: int = 0,
    seed: int | None = None,
    verbose: bool = False,
) -> dict:
    """The whole recipe on ``config`` (stages ``STAGES``; each skipped when its output exists unless named in
    ``force``, ``"all"`` redoes everything); returns the summary written to ``<work_dir>/summary.json``. The
    arguments are ``tools/run_pipeline.py``'s flags."""
    with contextlib.ExitStack() as stack:  # the quiet log (mmseg_plugin.quiet) ends with the run, even on errors
        return _run(
            argparse.Namespace(
                config=config,
                work_dir=work_dir,
                data_root=data_root,
                force=list(force),
                audio_iters=audio_iters,
                seg_iters=seg_iters,
                stop_after=stop_after,
                no_diagnostics=no_diagnostics,
                shuffle_seed=shuffle_seed,
                seed=seed,
                verbose=verbose,
            ),
            stack,
        )


def _run(args: argparse.Namespace, stack: contextlib.ExitStack) -> dict:
    global SHOW_PROGRESS
    force = set(STAGES) if "all" in args.force else set(args.force)
    import_plugin()
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    if args.seed is not None:
        apply_seed(cfg, args.seed)
    if args.audio_iters and cfg.get("audio_classifier", None) is not None:
        cfg.audio_classifier["max_iters"] = int(args.audio_iters)  # stage 1 and its CNN baseline get the same budget
    work_dir = (
        args.work_dir or cfg.get("work_dir", None) or osp.join("work_dirs", osp.splitext(osp.basename(args.config))[0])
    )
    os.makedirs(work_dir, exist_ok=True)
    from mmseg_plugin.quiet import quiet_logs

    log = stack.enter_context(quiet_logs(osp.join(work_dir, "run_pipeline.log"), args.verbose))
    SHOW_PROGRESS = log is not None
    stack.callback(_progress_off)  # the run's setting does not outlive it (later calls in the same process)
    if log is not None:
        print(f"[log] mmengine's log and warnings: {log} (--verbose prints them here)")
    summary: dict = dict(
        config=args.config, work_dir=work_dir, seed=cfg.get("randomness", {}).get("seed"), timings_s={}
    )
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

    # 0b. visual pre-training (opt-in: the config's `visual_pretrain`; mmseg_plugin/visual_stage.py)
    from mmseg_plugin.visual_stage import visual_settings

    visual = osp.join(work_dir, "visual_encoder.pth")
    t0 = time.time()
    if visual_settings(cfg) is None:
        visual = None
    elif _cached_stage(
        "visual", visual, force, summary, "visual_stage",
        lambda: stage_visual(cfg, visual),
        lambda vs: (
            f"{vs['visual_iters']} iterations on {vs['visual_settings']['num_images']} sprite images "
            f"({vs['visual_gen_s'] + vs['visual_train_s']:.0f} s, last loss {vs['visual_last_loss']})"
        ),
    ):  # fmt: skip
        force |= {"train", "test"}  # DDESeg starts from these weights
    summary["timings_s"]["visual"] = round(time.time() - t0, 1)
    if visual:
        _check_head_classes(cfg, summary, visual)

    if args.stop_after == "visual":
        return _finish(summary, work_dir, t_all)

    # 0c. audio pre-training (opt-in: the config's `audio_pretrain`; mmseg_plugin/audio_pretrain.py)
    from mmseg_plugin.audio_pretrain import audio_pretrain_settings

    audio_init = osp.join(work_dir, "audio_pretrained.pth")
    t0 = time.time()
    if audio_pretrain_settings(cfg) is None:
        audio_init = None
    elif _cached_stage(
        "audio_pretrain", audio_init, force, summary, "audio_pretrain_stage",
        lambda: stage_audio_pretrain(cfg, audio_init),
        lambda ap: (
            f"{ap['audio_pretrain_iters']} iterations on {ap['audio_pretrain_settings']['num_clips']} voice clips "
            f"({ap['audio_pretrain_gen_s'] + ap['audio_pretrain_train_s']:.0f} s, last loss "
            f"{ap['audio_pretrain_last_loss']}, held-out voices mAP {ap['audio_pretrain_heldout_mAP']})"
        ),
    ):  # fmt: skip
        force |= {"audio", "memory", "train", "test"}  # stage 1 starts from these weights
    summary["timings_s"]["audio_pretrain"] = round(time.time() - t0, 1)

    if args.stop_after == "audio_pretrain":
        return _finish(summary, work_dir, t_all)

    # 1. audio encoder
    from mmseg_plugin.recipe import stage1_enabled, supplied_memory

    encoder = osp.join(work_dir, "audio_encoder.pth")
    t0 = time.time()
    stage1, why = stage1_enabled(cfg)  # opt-in for the paper configs (mmseg_plugin/recipe.py)
    if not stage1 and audio_init:
        # stage 1 off after stage "audio_pretrain": its encoder is used frozen, as the release uses AudioSet's HTS-AT
        encoder = audio_init
        summary["audio_encoder_frozen"] = audio_init
        print(f"[audio] skipped: {why}; the stage-'audio_pretrain' encoder {audio_init} is used as is (frozen)")
    elif not stage1:
        encoder = None
        print(f"[audio] skipped: {why}")
    elif osp.isfile(encoder) and "audio" not in force:
        print(f"[audio] {encoder} exists: skipped")
        if osp.isfile(encoder + ".json"):  # the stage's report (val mAP), written when it ran
            with open(encoder + ".json") as f:
                summary["audio_stage"] = json.load(f)
    else:
        summary["audio"] = stage_audio(cfg, work_dir, encoder, args.audio_iters, audio_init)
        summary["audio_stage"] = summary["audio"]
        with open(encoder + ".json", "w") as f:
            json.dump(summary["audio"], f, indent=1)
        print(f"[audio] {summary['audio']}")
        force |= {"memory", "train", "test"}  # downstream outputs depend on the encoder
    summary["timings_s"]["audio"] = round(time.time() - t0, 1)

    if args.stop_after == "audio":
        return _finish(summary, work_dir, t_all)

    # 2. memory
    memory = osp.join(work_dir, "semantic_memory.pth")
    t0 = time.time()
    if supplied_memory(cfg) and encoder is None:
        memory = None  # the config's own bank (e.g. the released one) and encoder stay as they are
        print(f"[memory] skipped: the config supplies its bank {supplied_memory(cfg)}")
    elif osp.isfile(memory) and "memory" not in force:
        print(f"[memory] {memory} exists: skipped")
    else:
        from mmseg_plugin.apis.memory_builder import build_and_save_memory

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
    scfg = _seg_cfg(cfg, work_dir, encoder, memory, args.seg_iters, visual)
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

    # 4. test + all-background floor + diagnostics
    from mmseg_plugin.diagnostics import metric_subset

    t0 = time.time()
    summary["masks"] = osp.join(work_dir, "test", "masks")
    from mmseg_plugin.quiet import stdout_to_log

    with stdout_to_log():
        metrics = stage_test(scfg, summary["train"]["checkpoint"], summary["masks"])
    summary["test"] = metric_subset(metrics)
    summary["all_background"] = metric_subset(all_background_metrics(scfg, "test"))
    summary["timings_s"]["test"] = round(time.time() - t0, 1)
    t0 = time.time()
    with _bar(1 if args.no_diagnostics else 3, "diagnostics") as bar:
        if scfg.get("val_dataloader", None):
            summary["val_all_background"] = metric_subset(all_background_metrics(scfg, "val"))
        summary["final_val"] = summary["train"].get("final_val")
        bar.update(1)
        summary["stage1_map"] = dict(
            audio_encoder=(summary.get("audio_stage") or {}).get("audio_val_mAP"),
            cnn_baseline=None if args.no_diagnostics else stage1_baseline_map(cfg, work_dir),
        )
        if not args.no_diagnostics:
            bar.update(1)
            summary.update(
                stage_diagnostics(
                    scfg,
                    summary["train"]["checkpoint"],
                    args.shuffle_seed,
                    stage1_classifier_checkpoint(work_dir) if encoder and stage1 else None,
                )
            )
            bar.update(1)
    summary["timings_s"]["diagnostics"] = round(time.time() - t0, 1)
    _print_table(summary)
    summary["warnings"] = _floor_warnings(summary)
    for w in summary["warnings"]:
        print(w)
    print(f"predicted test masks: {summary['masks']} (masks.csv lists them)")
    return _finish(summary, work_dir, t_all)


def _metric_row(name: str, m: dict | None, note: str = "") -> str:
    if m is None:
        return f"{name:22s} {'-':>7s} {'-':>7s} {'-':>7s} | {'-':>7s} {'-':>7s} {'-':>7s}   {note}".rstrip()
    jk = "avsbench/J" if "avsbench/J" in m else "avsbench/mIoU"
    fk = "avsbench/F" if "avsbench/F" in m else "avsbench/mF"
    djk = "dataset/J" if "dataset/J" in m else "dataset/mIoU"
    dfk = "dataset/F" if "dataset/F" in m else "dataset/mF"
    return (
        f"{name:22s} {_fmt(m, jk)} {_fmt(m, fk)} {_fmt(m, 'avsbench/J&F')} | "
        f"{_fmt(m, djk)} {_fmt(m, dfk)} {_fmt(m, 'dataset/J&F')}   {note}"
    ).rstrip()


def _heard_note(summary: dict, diag: bool, absent: str) -> str:
    """The note of the table's `classes heard` row: what it is, or why it is empty."""
    if not diag:
        return absent
    if "class_heard_classifier" not in summary:
        return "no stage-1 classifier checkpoint"
    if summary.get("class_heard") is None:
        return "binary task: stage 1 tags categories, not mask classes"
    return "its masks, classes stage 1 does not hear removed"


def _print_table(summary: dict) -> None:
    diag = "visual_oracle" in summary
    absent = "(--no-diagnostics)"
    rows = [
        ("DDESeg", summary["test"], ""),
        ("  audio zeroed", summary.get("audio_zeroed"), "" if diag else absent),
        ("  audio shuffled", summary.get("audio_shuffled"), f"seed {summary.get('shuffle_seed')}" if diag else absent),
        ("  classes given", summary.get("class_oracle"), "its masks, non-sounding classes removed" if diag else absent),
        (
            "  classes heard",
            summary.get("class_heard"),
            _heard_note(summary, diag, absent),
        ),
        ("all-background", summary["all_background"], "floor"),
        ("visual-only oracle", summary.get("visual_oracle"), "" if diag else absent),
    ]
    if diag and summary["visual_oracle"] is None:
        rows[-1] = (rows[-1][0], None, f"absent: {summary.get('visual_oracle_absent')}")
    print("\n=== test split ===")
    print(f"{'':22s} {'J':>7s} {'F':>7s} {'J&F':>7s} | {'J(ds)':>7s} {'F(ds)':>7s} {'J&F(ds)':>7s}")
    for name, m, note in rows:
        print(_metric_row(name, m, note))
    if summary.get("val_all_background") is not None:
        print("=== val split ===")
        print(_metric_row("DDESeg, final val", summary.get("final_val"), "" if summary.get("final_val") else "unknown"))
        print(_metric_row("all-background", summary["val_all_background"], "floor"))
    s1 = summary.get("stage1_map") or {}
    print("=== stage 1: audio tagging, val mAP ===")
    a, b = s1.get("audio_encoder"), s1.get("cnn_baseline")
    print(f"{'audio encoder (stage 1)':28s} {a:7.2f}" if a is not None else f"{'audio encoder (stage 1)':28s}       -")
    print(f"{'log-mel CNN baseline':28s} {b:7.2f}" if b is not None else f"{'log-mel CNN baseline':28s}       -")


def _floor_warnings(summary: dict) -> list:
    """Loud warnings for the final val J&F (when known) and the test J&F near the all-background floor."""
    from mmseg_plugin.diagnostics import floor_warning

    s1 = summary.get("stage1_map") or {}
    common = dict(
        zeroed=summary.get("audio_zeroed"),
        shuffled=summary.get("audio_shuffled"),
        oracle=summary.get("visual_oracle"),
        audio_map=s1.get("audio_encoder"),
        baseline_map=s1.get("cnn_baseline"),
    )
    out = []
    if summary.get("final_val") and summary.get("val_all_background"):
        out.append(floor_warning("final val", summary["final_val"], summary["val_all_background"], **common))
    out.append(floor_warning("test", summary["test"], summary["all_background"], **common))
    return [w for w in out if w]


def _finish(summary: dict, work_dir: str, t_all: float) -> dict:
    summary["timings_s"]["total"] = round(time.time() - t_all, 1)
    print("timings (s):", summary["timings_s"])
    out = osp.join(work_dir, "summary.json")
    with open(out, "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print(f"summary written to {out}")
    if SHOW_PROGRESS:
        print(f"full log (mmengine, warnings): {osp.join(work_dir, 'run_pipeline.log')}")
    return summary
