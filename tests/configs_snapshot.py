"""Resolve every leaf config under configs/ (recursively, `_base_/` excluded) with mmengine's `Config.fromfile` and
write or read the snapshot of what they resolve to (`tests/data/config_snapshot.json`, JSON-normalised: tuples are
lists, keys sorted). `tests/test_config_snapshot.py` compares the configs with it; after a deliberate change to what a
config resolves to, regenerate it with

    python tests/configs_snapshot.py            # writes tests/data/config_snapshot.json

and review the diff of the JSON file in the commit."""

import glob
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")
SNAPSHOT = os.path.join(REPO, "tests", "data", "config_snapshot.json")


def leaves() -> list:
    """Every leaf config, relative to configs/ (posix separators), sorted."""
    paths = glob.glob(os.path.join(CONFIGS, "**", "*.py"), recursive=True)
    rel = (os.path.relpath(p, CONFIGS).replace(os.sep, "/") for p in paths)
    return sorted(r for r in rel if not r.startswith("_base_/") and "/_base_/" not in r)


def normalise(obj):
    """JSON-normal form: dicts with string keys, tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [normalise(v) for v in obj]
    return obj


def resolve(leaf: str) -> dict:
    """What a leaf resolves to (`Config.fromfile(...).to_dict()`, normalised)."""
    from mmengine.config import Config

    return normalise(Config.fromfile(os.path.join(CONFIGS, leaf)).to_dict())


def resolve_all() -> dict:
    return {leaf: resolve(leaf) for leaf in leaves()}


def write(path: str = SNAPSHOT) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(resolve_all(), f, indent=1, sort_keys=True)
        f.write("\n")


def read(path: str = SNAPSHOT) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else SNAPSHOT)
