"""The paper's Fig. 6 analysis of a trained DDESeg: t-SNE pictures and linear probes of F_a, the DDM tokens and the
DEM-weighted tokens on single-source frames (mmseg_plugin/audio_analysis.py has the definitions).

    python tools/analyze_audio.py CONFIG CHECKPOINT [--out DIR] [--fit-split train] [--eval-split test]
        [--data-root ROOT] [--batch-size 16] [--max-frames N] [--seed 0]

The checkpoint supplies the weights and the semantic memory (``mmseg_plugin.apis.inference.init_model``). Frames go
through the config's test pipeline and ``model.test_step``. The probe (standardised multinomial logistic regression,
scikit-learn) is fitted on the ``--fit-split`` single-source frames and scored on the ``--eval-split`` ones (a
held-out split: no clip is in both); the t-SNE pictures show the eval frames coloured by class.

Writes into ``--out`` (default ``<checkpoint folder>/audio_analysis``): ``tsne.png`` (the three panels side by side,
as Fig. 6 a-c), ``tsne_<F_a|DDM|DEM>.png``, ``probe.json`` and ``representations.npz`` (features, labels, clip ids of
both splits); prints the probe table. On a semantic-task network with the DDM on, ``probe.json``'s ``derivation`` also
holds (and the tool prints) the DDM / DEM token statistics over every frame of the eval split
(``mmseg_plugin.audio_analysis.derivation_statistics``): whether the K derived tokens are distinct, whether the
sounding classes are among the K selected ones, and whether the DEM scores tokens of sounding classes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp

from mmseg_plugin.apis.config_helpers import apply_avss_classes, apply_data_root
from mmseg_plugin.apis.scope import import_plugin

TITLES = {
    "F_a": "F_a (audio backbone, DDM input)",
    "DDM": "DDM tokens A^1 (mean over K)",
    "DEM": "DEM-weighted tokens (sum_k w_k A^1_k)",
}


def split_dataset(cfg, split: str):
    """The split's dataset with the deterministic test pipeline (no augmentation on the training split)."""
    import copy

    from mmseg.registry import DATASETS

    from mmseg_plugin.apis.memory_builder import test_pipeline
    from mmseg_plugin.diagnostics import split_dataset_cfg

    ds_cfg = split_dataset_cfg(cfg, split)
    ds_cfg["pipeline"] = copy.deepcopy(test_pipeline(cfg))
    return DATASETS.build(ds_cfg)


def class_setup(cfg, dataset):
    """(task, class names, class_index for binary tasks)."""
    from mmseg_plugin.apis.memory_builder import class_names_for_binary

    task = cfg.model.get("task", "semantic")
    if task == "binary":
        names = list(class_names_for_binary(cfg))
        return task, names, {n: i for i, n in enumerate(names)}
    return task, list(dataset.metainfo["classes"]), None


def analyze(cfg, checkpoint: str, out: str, fit_split: str = "train", eval_split: str = "test",
            batch_size: int = 16, max_frames: int | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Record, probe and plot; returns the probe results (also written to ``out/probe.json``)."""
    import numpy as np

    from mmseg_plugin.apis.inference import init_model
    from mmseg_plugin.audio_analysis import (
        REPRESENTATIONS,
        collect_representations,
        linear_probe,
        plot_tsne,
        tsne_embedding,
    )

    if fit_split == eval_split:
        raise ValueError(
            f"--fit-split and --eval-split must differ (both {fit_split!r}): the probe needs held-out data"
        )
    model, _ = init_model(cfg, checkpoint)
    os.makedirs(out, exist_ok=True)
    recs, names = {}, None
    for split in (fit_split, eval_split):
        ds = split_dataset(cfg, split)
        task, names, class_index = class_setup(cfg, ds)
        recs[split] = collect_representations(model, ds, task, class_index, batch_size, max_frames)
        print(f"[{split}] {recs[split]['n_single']} single-source frames of {recs[split]['n_items']}")
    fit, ev = recs[fit_split], recs[eval_split]
    shared = sorted(set(fit["clip_ids"].tolist()) & set(ev["clip_ids"].tolist()))
    if shared:
        raise ValueError(f"the {fit_split} and {eval_split} splits share clips {shared[:5]}: the probe is not held out")
    if len(ev["labels"]) < 5:
        raise ValueError(f"the {eval_split} split has {len(ev['labels'])} single-source frames: too few to analyse")
    result = dict(
        config=str(cfg.filename), checkpoint=checkpoint, fit_split=fit_split, eval_split=eval_split, seed=seed,
        classes=names, n_fit=int(len(fit["labels"])), n_eval=int(len(ev["labels"])),
        class_counts_eval={names[c]: int((ev["labels"] == c).sum()) for c in sorted(set(ev["labels"].tolist()))},
        probe={},
    )  # fmt: skip
    embeddings = {}
    for rep in REPRESENTATIONS:
        result["probe"][rep] = linear_probe(fit[rep], fit["labels"], ev[rep], ev["labels"], seed=seed)
        embeddings[rep] = tsne_embedding(ev[rep], seed=seed)
        plot_tsne({rep: embeddings[rep]}, ev["labels"], names, osp.join(out, f"tsne_{rep}.png"), TITLES)
    title = f"{osp.basename(str(cfg.filename))}: {eval_split} single-source frames ({len(ev['labels'])}), t-SNE"
    result["figure"] = plot_tsne(embeddings, ev["labels"], names, osp.join(out, "tsne.png"), TITLES, title)
    np.savez_compressed(
        osp.join(out, "representations.npz"),
        **{f"{s}_{k}": recs[s][k] for s in recs for k in (*REPRESENTATIONS, "labels", "clip_ids", "indices")},
    )
    result["derivation"] = derivation_report(model, cfg, eval_split, batch_size)
    with open(osp.join(out, "probe.json"), "w") as f:
        json.dump(result, f, indent=1)
    print_probe_table(result)
    print_derivation(result["derivation"])
    return result


def derivation_report(model, cfg, split: str, batch_size: int = 16) -> dict:
    """``derivation_statistics`` over every frame of ``split`` (semantic task with the DDM on), else why not."""
    from mmseg_plugin.audio_analysis import collect_derivation_records, derivation_statistics

    net = getattr(model, "net", model)
    if cfg.model.get("task", "semantic") != "semantic":
        return dict(skipped="binary task: the memory's classes are not the mask's classes")
    if not getattr(net.derivation, "enabled", True):
        return dict(skipped="the DDM is disabled (Table 3 baseline): no derived tokens")
    if net.derivation.num_neighbors < 2:
        return dict(skipped="K = 1: a single derived token")
    rec = collect_derivation_records(model, split_dataset(cfg, split), batch_size)
    return dict(split=split, **derivation_statistics(**rec))


def print_derivation(d: dict) -> None:
    if "skipped" in d:
        print(f"\n=== DDM / DEM token statistics: skipped ({d['skipped']}) ===")
        return
    print(f"\n=== DDM / DEM token statistics, {d['split']} split, all {d['n_frames']} frames, K = {d['k']} ===")
    print(f"mean cosine between a frame's K tokens: {d['token_cosine']:.3f} (1 = collapsed onto one vector)")
    print(f"derived offset |A_k - F_a| / |F_a|: {d['offset_ratio']:.3f}")
    if d["selection_recall"] is not None:
        by = ", ".join(f"{k} sounding: {v:.1f}" for k, v in d["selection_recall_by_sources"].items())
        print(f"sounding classes among the K selected: {d['selection_recall']:.1f} % ({by})")
    for i, st in enumerate(d["stages"]):
        snd = "-" if st["score_sounding"] is None else f"{st['score_sounding']:.3f}"
        sil = "-" if st["score_silent"] is None else f"{st['score_silent']:.3f}"
        print(
            f"DEM stage {i + 1}: score mean {st['score_mean']:.3f}, spread over K {st['score_spread']:.4f}, "
            f"sounding-class tokens {snd} (n={st['n_sounding']}), silent {sil} (n={st['n_silent']})"
        )


def print_probe_table(result: dict) -> None:
    p = result["probe"]
    first = next(iter(p.values()))
    print(
        f"\n=== linear probe: fit on {result['fit_split']} ({result['n_fit']} frames), "
        f"held-out {result['eval_split']} ({result['n_eval']} frames), {len(first['classes'])} classes ==="
    )
    print(f"{'':6s} {'acc':>7s} {'bal.acc':>7s} {'macroF1':>7s}")
    for rep, r in p.items():
        print(f"{rep:6s} {r['accuracy']:7.2f} {r['balanced_accuracy']:7.2f} {r['macro_f1']:7.2f}")
    print(f"chance: {first['chance_majority']:.2f} (majority class), {first['chance_balanced']:.2f} (balanced)")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="Fig. 6 analysis: t-SNE + linear probe of F_a, DDM and DEM tokens")
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("--out", help="output folder (default: <checkpoint folder>/audio_analysis)")
    p.add_argument("--data-root")
    p.add_argument("--fit-split", default="train", choices=("train", "val", "test"))
    p.add_argument("--eval-split", default="test", choices=("train", "val", "test"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-frames", type=int, help="at most this many single-source frames per split")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import_plugin()
    from mmengine.config import Config

    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    cfg = Config.fromfile(args.config)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    apply_avss_classes(cfg)
    out = args.out or osp.join(osp.dirname(osp.abspath(args.checkpoint)), "audio_analysis")
    res = analyze(
        cfg, args.checkpoint, out, args.fit_split, args.eval_split, args.batch_size, args.max_frames, args.seed
    )
    print(f"figures: {res['figure']} and tsne_<rep>.png; probe: {osp.join(out, 'probe.json')}")
    return res


if __name__ == "__main__":
    main()
