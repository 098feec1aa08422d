"""Stage-1 audio encoder vs a plain log-mel CNN tagger, trained in the same budget on a config's train split.

    python benchmarks/bench_audio_baseline.py CONFIG [--iters N] [--batch-size B] [--seeds 0 1 2]
        [--budget-seconds S] [--only encoder|baseline] [--audio-init PRETRAINED.pth] [--out results.json]

Both classifiers are trained through mmengine's Runner (``mmseg_plugin.audio_stage.audio_runner_cfg``) on the
frame labels derived from the masks, with the same iterations x batch (the config's ``audio_classifier``
``max_iters`` / ``batch_size`` unless overridden), one run per seed, and scored on the val split (test when there is
no val) with ``evaluate_audio_map``: macro mAP and per-class AP (percent). The encoder uses every setting of the
config's ``audio_classifier`` (lr, warm-up, augmentation...) and starts from ``--audio-init`` when given (stage
"audio_pretrain"'s ``<work_dir>/audio_pretrained.pth``, as ``tools/run_pipeline.py``'s stage 1 does); the baseline
(``LogMelCNN``, type ``logmel_cnn``) uses AdamW lr 1e-3, weight decay 0.01, cosine, no augmentation
(``audio_classifier.baseline_optim`` overrides) and always starts from scratch.
``--budget-seconds`` makes the run fail loudly when one training run takes longer than S seconds of wall time
(the budget check of a recipe); wall times are always reported. Prints a table (mean +- population std over
seeds) and writes the raw results to ``--out`` (default ``<work_dir>/audio_baseline_bench.json``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import os.path as osp
import statistics
import tempfile


def run_benchmark(
    config: str,
    iters: int | None = None,
    batch_size: int | None = None,
    seeds=(0, 1, 2),
    only: str | None = None,
    budget_seconds: float | None = None,
    work_dir: str | None = None,
    audio_init: str | None = None,
) -> dict:
    """Train and score the stage-1 encoder and the CNN baseline for every seed; returns the raw results + summary."""
    from mmengine.config import Config

    from mmseg_plugin.apis.config_helpers import apply_avss_classes
    from mmseg_plugin.apis.scope import import_plugin

    import_plugin()
    from mmseg_plugin.audio_stage import (
        audio_runner_cfg,
        audio_settings,
        baseline_classifier_model,
        baseline_overrides,
        eval_dataset,
        evaluate_audio_map,
        train_audio_classifier,
    )

    cfg = Config.fromfile(config)
    apply_avss_classes(cfg)
    clf = audio_settings(cfg)
    iters = int(iters or clf.get("max_iters", 1000))
    batch = int(batch_size or clf.get("batch_size", cfg.train_dataloader.batch_size))
    work_dir = work_dir or tempfile.mkdtemp(prefix="bench_audio_")
    ds = eval_dataset(cfg)
    if ds is None:
        raise ValueError(f"{config}: no val or test split to score stage 1 on")
    encoder = None
    if audio_init:  # the recipe's stage 1 starts from stage "audio_pretrain"'s weights
        if not osp.isfile(audio_init):
            raise FileNotFoundError(f"--audio-init {audio_init}: no such file (a stage 'audio_pretrain' output)")
        encoder = copy.deepcopy(clf["model"])
        encoder["audio"] = dict(encoder.get("audio") or {}, checkpoint=audio_init)
    arms = {
        "encoder": (encoder, dict(batch_size=batch)),
        "baseline": (baseline_classifier_model(cfg), dict(baseline_overrides(cfg), batch_size=batch)),
    }
    if only:
        arms = {only: arms[only]}
    runs = []
    for name, (model, over) in arms.items():
        for seed in seeds:
            rcfg = audio_runner_cfg(
                cfg, osp.join(work_dir, f"{name}_s{seed}"), iters, model=model, seed=seed, overrides=over
            )
            net, seconds = train_audio_classifier(rcfg)
            if budget_seconds is not None and seconds > budget_seconds:
                raise RuntimeError(
                    f"{config}: {name} seed {seed} trained for {seconds:.0f} s, over the budget of {budget_seconds} s"
                )
            res = evaluate_audio_map(net, cfg, ds)
            row = dict(arm=name, seed=seed, mAP=res["mAP"], per_class_AP=res["per_class_AP"], train_s=round(seconds, 1))
            runs.append(row)
            print(f"[bench] {name:8s} seed {seed}: val mAP {res['mAP']:6.2f}  ({seconds:.0f} s)", flush=True)
    summary = {}
    for name in arms:
        rows = [r for r in runs if r["arm"] == name]
        maps = [r["mAP"] for r in rows]
        per = {}
        for cls in rows[0]["per_class_AP"]:
            vals = [r["per_class_AP"][cls] for r in rows if r["per_class_AP"][cls] is not None]
            per[cls] = round(statistics.mean(vals), 2) if vals else None
        summary[name] = dict(
            mAP_mean=round(statistics.mean(maps), 2),
            mAP_std=round(statistics.pstdev(maps), 2),
            train_s_mean=round(statistics.mean(r["train_s"] for r in rows), 1),
            per_class_AP_mean=per,
        )
    return dict(config=config, iters=iters, batch_size=batch, seeds=list(seeds), runs=runs, summary=summary,
                val_frames=len(ds), audio_init=audio_init)  # fmt: skip


def format_table(result: dict) -> str:
    lines = [
        f"{result['config']}: {result['iters']} iterations x batch {result['batch_size']}, "
        f"seeds {result['seeds']}, val mAP (%) mean +- std",
        f"{'':10s} {'mAP':>15s} {'train s':>8s}  per-class AP (mean over seeds)",
    ]
    for name, s in result["summary"].items():
        per = " ".join(f"{k}={v}" for k, v in s["per_class_AP_mean"].items())
        lines.append(f"{name:10s} {s['mAP_mean']:7.2f} +- {s['mAP_std']:5.2f} {s['train_s_mean']:8.1f}  {per}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config")
    p.add_argument("--iters", type=int, help="iterations of both runs (default: audio_classifier.max_iters)")
    p.add_argument("--batch-size", type=int, help="batch of both runs (default: audio_classifier.batch_size)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget-seconds", type=float, help="fail when one training run exceeds this wall time")
    p.add_argument("--only", choices=("encoder", "baseline"))
    p.add_argument("--work-dir", help="runner work dirs (default: a temporary directory)")
    p.add_argument("--audio-init", help="start the encoder arm from these weights (stage 'audio_pretrain' output)")
    p.add_argument("--out", help="results JSON (default: <work-dir>/audio_baseline_bench.json)")
    args = p.parse_args(argv)
    res = run_benchmark(args.config, args.iters, args.batch_size, args.seeds, args.only, args.budget_seconds,
                        args.work_dir, args.audio_init)  # fmt: skip
    print(format_table(res))
    out = args.out or osp.join(args.work_dir or tempfile.gettempdir(), "audio_baseline_bench.json")
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"results written to {out}")
    return res


if __name__ == "__main__":
    main()
