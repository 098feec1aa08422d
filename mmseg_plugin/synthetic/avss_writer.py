"""Writing a generated audio-visual set in the AVSBench-semantic (AVSS) v1s / v1m layout.

No paper equation. Shared by every built-in synthetic generator (:mod:`.generator`, :mod:`.hard`). Layout::

    label2idx.json                         {"background": 1, name: index + 1, ...}   (1-based, as AVSS)
    metadata.csv                           vid,uid,s_min,s_sec,a_obj,split,label
    <subset>/<uid>/frames/<t>.jpg          RGB uint8 [S, S, 3], JPEG
    <subset>/<uid>/labels_semantic/<t>.png sounding objects, mode 'P' (VOC palette), value = class index (0 = bg)
    <subset>/<uid>/labels_rgb/<t>.png      the same map in VOC colours (RGB)
    <subset>/<uid>/labels_visible/<t>.png  every on-screen object (sounding or silent), same format as
                                           labels_semantic; not part of AVSS (the AVSS loader ignores it)
    <subset>/<uid>/audio.wav               whole clip, 16-bit PCM, float input in [-1, 1]

Pure numpy / PIL / soundfile (no mmengine / mmseg imports).
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Iterable, List, Sequence

import numpy as np
import soundfile as sf
from PIL import Image

__all__ = ["voc_palette_bytes", "write_png", "write_jpeg", "write_index_png", "write_rgb_label", "make_clip_dirs",
           "write_wav", "write_label2idx", "write_metadata", "clip_uid", "METADATA_COLUMNS",
           "CLIP_FOLDERS"]  # fmt: skip

METADATA_COLUMNS = ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label")
CLIP_FOLDERS = ("frames", "labels_rgb", "labels_semantic", "labels_visible")


def voc_palette_bytes(n: int = 256) -> List[int]:
    """Flat VOC palette (same bit-interleave rule as mmseg_plugin.datasets.palette.voc_palette) for PIL 'P' images."""
    out = []
    for i in range(n):
        c, r, g, b, level = i, 0, 0, 0, 7
        while c:
            r |= (c & 1) << level
            g |= ((c >> 1) & 1) << level
            b |= ((c >> 2) & 1) << level
            c >>= 3
            level -= 1
        out += [r, g, b]
    return out


_PALETTE = voc_palette_bytes()
_PALETTE_RGB = np.asarray(_PALETTE, dtype=np.uint8).reshape(256, 3)


def write_png(path: str, img: Image.Image) -> None:
    """PNG with fixed encoder settings (deterministic bytes)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_jpeg(path: str, img: np.ndarray, quality: int) -> None:
    """RGB uint8 [H, W, 3] as JPEG."""
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="JPEG", quality=quality)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_index_png(path: str, label: np.ndarray) -> None:
    """uint8 class-index map [H, W] as a mode-'P' PNG with the VOC palette (labels_semantic / labels_visible)."""
    p_img = Image.fromarray(label, mode="L").convert("P")
    p_img.putpalette(_PALETTE)
    write_png(path, p_img)


def write_rgb_label(path: str, label: np.ndarray) -> None:
    """uint8 class-index map [H, W] in VOC colours (labels_rgb)."""
    write_png(path, Image.fromarray(_PALETTE_RGB[label], mode="RGB"))


def make_clip_dirs(cdir: str) -> None:
    for sub in CLIP_FOLDERS:
        os.makedirs(os.path.join(cdir, sub))


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """float waveform [N] in [-1, 1] as 16-bit PCM WAV."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    sf.write(path, pcm, sample_rate, subtype="PCM_16", format="WAV")


def write_label2idx(root: str, names: Sequence[str]) -> None:
    """label2idx.json: background = 1, class k (0-based, background excluded) = k + 2."""
    bad = [n for n in names if "_" in n]
    if bad:
        raise ValueError(f"class names must not contain '_' (a_obj joins names with '_'): {bad}")
    with open(os.path.join(root, "label2idx.json"), "w", encoding="utf-8") as f:
        json.dump({"background": 1, **{n: i + 2 for i, n in enumerate(names)}}, f, indent=4)


def write_metadata(root: str, rows: Iterable[Sequence]) -> None:
    """metadata.csv rows (vid, uid, s_min, s_sec, a_obj, split, label)."""
    with open(os.path.join(root, "metadata.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(METADATA_COLUMNS))
        w.writerows(rows)


def clip_uid(vid: str, subset: str, num_frames: int) -> str:
    """AVSS uid: ``<vid>_0_<ms>`` for v1s, ``<vid>_0`` for v1m."""
    return f"{vid}_0_{num_frames * 1000}" if subset == "v1s" else f"{vid}_0"
