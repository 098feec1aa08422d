"""Print total / trainable parameter counts of a DDESeg configuration, per part.

Usage::

    python tools/count_params.py official                      # a preset (paper-mit_b5-htsat, official, tiny, ...)
    python tools/count_params.py configs/ddeseg_avss.py         # mmengine config: the dict at model.net / model.ddeseg
    python tools/count_params.py my_cfg.py --key model          # plain Python file defining `model = dict(...)`

Plain Python files are executed with runpy (no mmengine needed); files with ``_base_`` inheritance are read with
mmengine's ``Config`` when it is installed.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from collections.abc import Mapping

from ddeseg_layers.model import PRESETS, build_ddeseg, preset_config


def _load_file(path: str) -> dict:
    with open(path) as f:
        text = f.read()
    if "_base_" in text:
        try:
            from mmengine.config import Config
        except ImportError as exc:
            raise SystemExit(f"{path} inherits from _base_ files: reading it needs mmengine ({exc})") from exc
        return Config.fromfile(path).to_dict()
    return {k: v for k, v in runpy.run_path(path).items() if not k.startswith("__")}


def _select(cfg: Mapping, key: str | None, path: str) -> dict:
    candidates = [key] if key else ["model.net", "model.ddeseg", "model"]
    for cand in candidates:
        node = cfg
        for part in cand.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and (key or "num_classes" in node or "encoder" in node):
            return {k: v for k, v in node.items() if k != "type" or cand != "model"}
    raise SystemExit(f"{path}: no DDESeg config dict at {' / '.join(candidates)} (use --key)")


def count(cfg: Mapping | str) -> tuple[dict[str, tuple[int, int]], object]:
    model = build_ddeseg(cfg)
    rows = {}
    for part, params in model.param_groups().items():
        rows[part] = (sum(p.numel() for _, p in params), sum(p.numel() for _, p in params if p.requires_grad))
    return rows, model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help=f"config file or preset name ({', '.join(sorted(PRESETS))})")
    ap.add_argument("--key", default=None, help="dotted path of the DDESeg dict inside the file (default: auto)")
    args = ap.parse_args(argv)
    if os.path.isfile(args.config):
        cfg = _select(_load_file(args.config), args.key, args.config)
        cfg = dict(cfg)
        pre = cfg.get("pretrained") or {}
        audio = dict(cfg.get("audio") or {})
        if any(pre.values()) or audio.get("checkpoint"):
            print("note: ignoring checkpoint paths (counting only)", file=sys.stderr)
        cfg["pretrained"] = {}
        audio.pop("checkpoint", None)
        cfg["audio"] = audio
    elif args.config in PRESETS:
        cfg = preset_config(args.config)
    else:
        raise SystemExit(f"{args.config}: neither a file nor a preset ({', '.join(sorted(PRESETS))})")
    rows, _ = count(cfg)
    print(f"{'part':<20}{'total':>16}{'trainable':>16}")
    for part, (tot, tr) in rows.items():
        print(f"{part:<20}{tot:>16,}{tr:>16,}   ({tot / 1e6:.2f}M / {tr / 1e6:.2f}M)")
    tot = sum(r[0] for r in rows.values())
    tr = sum(r[1] for r in rows.values())
    print(f"{'TOTAL':<20}{tot:>16,}{tr:>16,}   ({tot / 1e6:.2f}M / {tr / 1e6:.2f}M)")


if __name__ == "__main__":
    main()
