"""Validate a config's dataset before a long run: every frame, label, audio file and clip of each split.

    python tools/check_dataset.py CONFIG [--split train val test] [--data-root ROOT] [--no-progress] [--json OUT]
        [--max-pad-seconds S] [--cfg-options k=v ...]

For each split the dataset is built from the config's dataloader of that split (or the train dataloader's dataset
with the split replaced) and checked with the pipeline's own decoders (mmseg_plugin.datasets.validation). Prints a
report per split (clips, frames, labelled frames, audio files, classes present with frame counts, problems, each
naming its file) and exits with status 1 if any problem was found, 0 otherwise (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

SPLIT_LOADERS = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader"}


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description="Check every file of a dataset before training")
    p.add_argument("config")
    p.add_argument("--split", nargs="+", choices=sorted(SPLIT_LOADERS), help="splits to check (default: the config's)")
    p.add_argument("--data-root", help="dataset root for every split (overrides the config's data_root)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="OUT", help="also write the report as JSON to OUT")
    p.add_argument(
        "--max-pad-seconds",
        type=float,
        default=0.5,
        help="most padding a frame's audio window may need before its audio file is reported too short (default 0.5)",
    )
    p.add_argument("--max-listed", type=int, default=50, help="problems printed per split (all go to --json)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides (mmengine DictAction)")
    return p.parse_args(argv)


def split_dataset_cfg(cfg, split: str):
    """(dataset dict, pipeline) for ``split``: the dataloader of that name if its dataset has that split, else the
    first dataloader whose dataset has it, else the train dataloader's dataset with ``split`` replaced."""
    loaders = [cfg.get(SPLIT_LOADERS[split], None)] + [cfg.get(k, None) for k in SPLIT_LOADERS.values()]
    for loader in loaders:
        if loader and loader.get("dataset", None) and loader["dataset"].get("split", None) == split:
            ds = loader["dataset"].to_dict() if hasattr(loader["dataset"], "to_dict") else dict(loader["dataset"])
            return ds, ds.get("pipeline", [])
    base = cfg.get("train_dataloader", None)
    if not base or not base.get("dataset", None):
        raise ValueError(f"the config has no dataloader for split {split!r} and no train_dataloader to derive it from")
    ds = base["dataset"].to_dict() if hasattr(base["dataset"], "to_dict") else dict(base["dataset"])
    ds["split"] = split
    return ds, ds.get("pipeline", [])


def default_splits(cfg):
    """The splits the config's dataloaders use, in train / val / test order."""
    found = []
    for key in SPLIT_LOADERS.values():
        loader = cfg.get(key, None)
        split = loader.get("dataset", {}).get("split", None) if loader else None
        if split and split not in found:
            found.append(split)
    return found


def tqdm_progress(prefix: str):
    from tqdm import tqdm

    def progress(desc, it, total):
        return tqdm(it, total=total, desc=f"{prefix} {desc}", unit="frame", dynamic_ncols=True, leave=False)

    return progress


def format_report(report, max_listed: int = 50) -> str:
    lines = [
        f"[{report.split}] {report.dataset_type} at {report.data_root}",
        f"  clips {report.clips}, frames {report.frames}, labelled frames {report.labelled_frames}, "
        f"audio files {report.audio_files}",
    ]
    if report.class_frames:
        classes = ", ".join(f"{k} {v}" for k, v in report.class_frames.items())
        lines.append(f"  classes present ({len(report.class_frames)}; labelled frames containing each): {classes}")
    n = len(report.problems)
    lines.append(f"  problems: {n}")
    for p in report.problems[:max_listed]:
        lines.append(f"    {p}")
    if n > max_listed:
        lines.append(f"    ... {n - max_listed} more (all of them in --json)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config

    import mmseg_plugin  # noqa: F401  (registers the datasets and transforms)
    from mmseg_plugin.apis.scope import ensure_mmseg_scope
    from mmseg_plugin.datasets.validation import validate_split

    ensure_mmseg_scope()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    splits = args.split or default_splits(cfg)
    if not splits:
        print(f"check_dataset: {args.config} has no dataloader with a split; pass --split", file=sys.stderr)
        return 2
    reports = []
    for split in splits:
        ds_cfg, pipeline = split_dataset_cfg(cfg, split)
        progress = None if args.no_progress else tqdm_progress(f"[{split}]")
        kw = {} if progress is None else dict(progress=progress)
        report = validate_split(
            ds_cfg, pipeline, split=split, data_root=args.data_root, max_pad_seconds=args.max_pad_seconds, **kw
        )
        reports.append(report)
        print(format_report(report, args.max_listed), flush=True)
    total = sum(len(r.problems) for r in reports)
    verdict = "OK" if total == 0 else f"FAILED: {total} problem(s)"
    print(f"check_dataset: {args.config}: {', '.join(splits)}: {verdict}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(dict(config=args.config, problems=total, splits=[r.to_dict() for r in reports]), f, indent=1)
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
