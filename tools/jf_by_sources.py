"""J&F of written test masks split by the number of sounding classes per frame (mmseg_plugin/evaluation/by_sources.py).

    python tools/jf_by_sources.py MASKS_DIR [MASKS_DIR ...] --num-classes C [--root ROOT] [--out results.json]

``MASKS_DIR`` is a folder written by the mask writer (``tools/run_pipeline.py``'s ``<work_dir>/test/masks`` or
``tools/test.py --save-masks DIR``); ``--num-classes`` counts the background (the config's ``num_classes``; default:
the ``num_classes`` of ``MASKS_DIR/../../summary.json`` when a pipeline wrote it). Relative ``img_path`` entries of
``masks.csv`` are resolved against ``--root`` (default: the current directory, where the run was started). Prints
one line per folder: J&F (AVSBench per-frame convention) on all labelled frames, on frames where no class sounds,
on single-source frames and on frames with two or more sounding classes, with the frame counts.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp

from mmseg_plugin.evaluation.by_sources import GROUPS, scores_by_sources


def _num_classes(masks_dir: str, given) -> int:
    if given:
        return int(given)
    summary = osp.join(osp.dirname(osp.dirname(osp.abspath(masks_dir))), "summary.json")
    if osp.isfile(summary):
        with open(summary) as f:
            n = json.load(f).get("num_classes")
        if n:
            return int(n)
    raise SystemExit(f"{masks_dir}: pass --num-classes (no pipeline summary.json with num_classes beside it)")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("masks_dirs", nargs="+")
    p.add_argument("--num-classes", type=int)
    p.add_argument("--root", default=".")
    p.add_argument("--out")
    args = p.parse_args(argv)
    res = {}
    for d in args.masks_dirs:
        res[d] = scores_by_sources(d, _num_classes(d, args.num_classes), args.root)
        cells = "  ".join(
            f"{g} {res[d][g]['J&F'] if res[d][g]['J&F'] is not None else '-':>6} ({res[d][g]['frames']})"
            for g in GROUPS
        )
        print(f"{d}: J&F {cells}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
