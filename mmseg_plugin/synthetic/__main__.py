"""CLI: ``python -m mmseg_plugin.synthetic --root data/synthetic --seed 0 [--preset basic|hard] [--num-classes N]
[--object-scale S] [--overwrite]``."""

from __future__ import annotations

import argparse
import json
import time
from typing import List, Optional

from .presets import PRESETS, generate_synthetic_set


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mmseg_plugin.synthetic", description=__doc__)
    ap.add_argument("--root", default="data/synthetic", help="output folder (created atomically)")
    ap.add_argument("--preset", default="basic", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-classes", type=int, default=None, help="default: the preset's (basic 6, hard 12)")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--num-train", type=int, default=None)
    ap.add_argument("--num-val", type=int, default=None)
    ap.add_argument("--num-test", type=int, default=None)
    ap.add_argument("--object-scale", type=float, default=None, help="hard preset only (default 1.0)")
    ap.add_argument("--overwrite", action="store_true", help="replace a set generated with other parameters")
    args = ap.parse_args(argv)
    if args.object_scale is not None and args.preset != "hard":
        ap.error("--object-scale applies to --preset hard only")
    names = ("num_classes", "image_size", "num_train", "num_val", "num_test", "object_scale")
    params = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    t0 = time.perf_counter()
    manifest = generate_synthetic_set(args.root, preset=args.preset, seed=args.seed, overwrite=args.overwrite, **params)
    summary = {k: manifest[k] for k in ("seed", "classes", "counts", "stats", "num_files", "content_sha256")}
    print(json.dumps(summary, indent=2))
    print(f"synthetic set ready at {args.root} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
