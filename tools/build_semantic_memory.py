"""Build the DDM semantic memory of a config (paper §3.1 Step 1, eqs. 2-4) and write it where the config expects it.

    python tools/build_semantic_memory.py CONFIG [--checkpoint audio_encoder.pth] [--out PATH] [--data-root ROOT]

Runs the configured audio backbone (``model.net.audio``; ``--checkpoint`` replaces its weights, e.g. the stage-1
encoder of tools/run_pipeline.py) over the training set's single-source frames (frames whose mask holds exactly one
non-background class; S4/MS3 configs: the S4 category of each frame), with a progress bar and a resumable feature
cache (``memory_builder.cache_dir``: per-chunk .pt files + manifest.json), then ``SemanticMemory.build`` with
``memory_builder.num_clusters`` x ``reps_per_cluster`` representatives per class, saved to
``semantic_memory_path``. Details: mmseg_plugin/apis/memory_builder.py.
"""

from __future__ import annotations

import argparse
import json

from mmseg_plugin.apis.config_helpers import apply_avss_classes, apply_data_root
from mmseg_plugin.apis.scope import import_plugin


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="Build the DDESeg semantic memory")
    p.add_argument("config")
    p.add_argument("--checkpoint", help="audio encoder weights (as build_audio_backbone's `checkpoint` loads)")
    p.add_argument("--out", help="output path (default: the config's semantic_memory_path)")
    p.add_argument("--data-root")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    import_plugin()
    from mmengine.config import Config

    from mmseg_plugin.apis.memory_builder import build_and_save_memory

    cfg = Config.fromfile(args.config)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    apply_avss_classes(cfg)
    summary = build_and_save_memory(cfg, checkpoint=args.checkpoint, out=args.out, progress=not args.no_progress)
    print(json.dumps({k: v for k, v in summary.items() if k != "frames_per_class"}, indent=1))
    print("single-source frames per class:", summary["frames_per_class"])
    return summary


if __name__ == "__main__":
    main()
