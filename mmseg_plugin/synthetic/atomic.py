"""Atomic, cached generation of a synthetic set with a manifest (parameters + SHA-256 over every file).

No paper equation. Shared by every built-in synthetic generator. A set is written into a hidden temporary sibling
folder, its manifest last, then renamed onto ``root``. An existing ``root`` is reused only when its manifest records
the requested parameters (else ``FileExistsError`` naming the differences); ``overwrite=True`` replaces it. Several
processes may generate the same set at once: the loser of the rename adopts the winner's copy after checking it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from typing import Callable, Optional, Tuple

__all__ = ["MANIFEST_NAME", "tree_digest", "read_manifest", "check_matches", "write_manifest", "generate_atomically"]

MANIFEST_NAME = "synthetic_manifest.json"


def tree_digest(root: str, skip: Tuple[str, ...] = (MANIFEST_NAME,)) -> Tuple[str, int]:
    """SHA-256 over (relative path, bytes) of every file under ``root`` in sorted order, and the file count."""
    h = hashlib.sha256()
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if fn in skip:
                continue
            p = os.path.join(dirpath, fn)
            h.update(os.path.relpath(p, root).encode())
            with open(p, "rb") as f:
                h.update(f.read())
            count += 1
    return h.hexdigest(), count


def read_manifest(root: str) -> Optional[dict]:
    p = os.path.join(root, MANIFEST_NAME)
    if not os.path.isfile(p):
        return None
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def write_manifest(root: str, manifest: dict) -> None:
    with open(os.path.join(root, MANIFEST_NAME), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)


def check_matches(root: str, manifest: Optional[dict], want: dict) -> dict:
    """Return ``manifest`` if it records every ``want`` parameter, else raise ``FileExistsError``."""
    if manifest is None:
        raise FileExistsError(
            f"{root} exists but has no {MANIFEST_NAME}: not a synthetic set (or an interrupted copy); "
            "remove it or choose another root"
        )
    diff = {k: (manifest.get(k), v) for k, v in want.items() if manifest.get(k) != v}
    if diff:
        raise FileExistsError(
            f"{root} holds a synthetic set generated with other parameters {diff} (found, requested); "
            "pass overwrite=True or choose another root"
        )
    return manifest


def generate_atomically(root: str, want: dict, write_all: Callable[[str], dict], overwrite: bool = False) -> dict:
    """Generate into ``root`` unless a matching set is there; return the manifest.

    Args:
        root: target folder.
        want: the parameters the manifest must record (compared key by key with an existing set's manifest).
        write_all: writes the whole set into the given (empty) folder, manifest included, and returns the manifest.
        overwrite: replace an existing set generated with other parameters.
    """
    root = os.path.abspath(os.fspath(root))
    if os.path.exists(root) and not overwrite:
        return check_matches(root, read_manifest(root), want)
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(root)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        manifest = write_all(tmp)
        if os.path.exists(root) and overwrite:
            trash = f"{tmp}.old"
            os.rename(root, trash)
            shutil.rmtree(trash)
        try:
            os.rename(tmp, root)
        except OSError:
            # another process (e.g. a second training rank) finished first: accept its copy if it matches
            if os.path.isdir(root):
                shutil.rmtree(tmp, ignore_errors=True)
                return check_matches(root, read_manifest(root), want)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
