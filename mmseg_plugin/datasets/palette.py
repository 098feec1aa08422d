"""PASCAL-VOC bit-interleave palette and label-map decoding (RGB colour masks, index PNGs, binary masks, VPO ids).

No paper equation. Shapes: colour masks ``[H, W, 3]`` uint8 -> index maps ``[H, W]`` uint8 (class index, 0 =
background, 255 = ignore). AVSBench-semantic's ``labels_rgb`` use the VOC palette over 71 indices (field notes §2:
index 0 = (0, 0, 0), index 1 = (128, 0, 0), ...) and are decoded by exact colour match; an unknown colour is an error
naming the file and the colour.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

import numpy as np
from PIL import Image

__all__ = [
    "LabelDecodeError",
    "voc_palette",
    "index_to_rgb",
    "rgb_to_index",
    "read_index_png",
    "read_binary_png",
    "read_rgb_png",
    "remap_ids",
    "decode_label_file",
    "LABEL_FORMATS",
]

LABEL_FORMATS = ("index", "rgb_voc", "binary", "coco_vpo")
IGNORE_INDEX = 255


class LabelDecodeError(ValueError):
    """A label file cannot be decoded into class indices (unknown colour, unknown id, wrong mode, bad value)."""


def voc_palette(num_classes: int) -> np.ndarray:
    """The PASCAL-VOC bit-interleave palette: ``[num_classes, 3]`` uint8.

    Index ``i``'s colour takes bit ``k`` of ``i`` for ``k = 0, 1, 2`` (R, G, B) at bit positions 7, 6, ... of each
    channel, three index bits per level.
    """
    if not 0 < num_classes <= 256:
        raise ValueError(f"num_classes must be in [1, 256], got {num_classes}")
    pal = np.zeros((num_classes, 3), dtype=np.uint8)
    for i in range(num_classes):
        c, r, g, b = i, 0, 0, 0
        level = 7
        while c:
            r |= ((c >> 0) & 1) << level
            g |= ((c >> 1) & 1) << level
            b |= ((c >> 2) & 1) << level
            c >>= 3
            level -= 1
        pal[i] = (r, g, b)
    return pal


def index_to_rgb(index_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour an index map ``[H, W]`` with ``palette`` ``[C, 3]`` -> ``[H, W, 3]`` uint8 (255 must not occur)."""
    index_map = np.asarray(index_map)
    if index_map.size and int(index_map.max()) >= len(palette):
        raise ValueError(f"index {int(index_map.max())} outside the palette of {len(palette)} colours")
    return palette[index_map.astype(np.int64)]


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def rgb_to_index(rgb: np.ndarray, palette: np.ndarray, path: str = "<array>") -> np.ndarray:
    """Decode an RGB colour mask ``[H, W, 3]`` by exact match against ``palette`` ``[C, 3]`` -> ``[H, W]`` uint8.

    Raises:
        LabelDecodeError: naming ``path`` and the first colour that is not in the palette.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise LabelDecodeError(f"{path}: expected an RGB mask [H, W, 3], got shape {rgb.shape}")
    keys = _pack(np.asarray(palette))
    order = np.argsort(keys)
    sorted_keys = keys[order]
    flat = _pack(rgb).reshape(-1)
    pos = np.clip(np.searchsorted(sorted_keys, flat), 0, len(sorted_keys) - 1)
    ok = sorted_keys[pos] == flat
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        y, x = divmod(first, rgb.shape[1])
        colour = tuple(int(v) for v in rgb[y, x])
        n_bad = int((~ok).sum())
        raise LabelDecodeError(
            f"{path}: colour {colour} at pixel (y={y}, x={x}) is not in the {len(palette)}-colour VOC palette "
            f"({n_bad} pixels with unknown colours)"
        )
    return order[pos].reshape(rgb.shape[:2]).astype(np.uint8)


def _open(path: str) -> Image.Image:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:
        raise LabelDecodeError(f"cannot read label image {path}: {exc}") from exc
    return img


def read_rgb_png(path: str, palette: np.ndarray) -> np.ndarray:
    """Read a colour-coded mask (any mode PIL converts to RGB) and decode it through ``palette``."""
    img = _open(path)
    return rgb_to_index(np.asarray(img.convert("RGB")), palette, path)


def read_index_png(path: str, num_classes: int) -> np.ndarray:
    """Read an index PNG whose pixel values are class indices (mode 'P', 'L', 'I;16' or 'I').

    'P' images give their palette indices (NOT the palette colours); 'L'/'I' images their grey values. Colour
    images are refused (use the rgb_voc format). Values must lie in ``[0, num_classes)`` or equal 255 (ignore).
    """
    img = _open(path)
    if img.mode not in ("P", "L", "I;16", "I"):
        raise LabelDecodeError(
            f"{path}: index label must be a single-channel PNG (mode 'P' or 'L'), got mode {img.mode!r}"
        )
    arr = np.asarray(img).astype(np.int64)
    bad = (arr >= num_classes) & (arr != IGNORE_INDEX) | (arr < 0)
    if bad.any():
        v = int(arr[bad][0])
        raise LabelDecodeError(f"{path}: pixel value {v} is not a class index in [0, {num_classes}) nor 255 (ignore)")
    return arr.astype(np.uint8)


def read_binary_png(path: str) -> np.ndarray:
    """Read a binary mask (mode '1', 'L' or 'P', as AVSBench S4/MS3): any non-zero value -> 1, zero -> 0."""
    img = _open(path)
    if img.mode in ("RGB", "RGBA"):
        arr = np.asarray(img.convert("L"))
    elif img.mode in ("1", "L", "P", "I;16", "I", "LA"):
        arr = np.asarray(img if img.mode != "LA" else img.convert("L"))
    else:
        raise LabelDecodeError(f"{path}: unsupported binary mask mode {img.mode!r}")
    return (arr != 0).astype(np.uint8)


def remap_ids(raw: np.ndarray, id_to_index: Mapping[int, int], path: str = "<array>") -> np.ndarray:
    """Map raw ids (e.g. COCO category ids in VPO masks) to class indices; 0 -> 0, 255 -> 255.

    Raises:
        LabelDecodeError: naming ``path`` and the first id that is neither 0, 255 nor in ``id_to_index``.
    """
    raw = np.asarray(raw).astype(np.int64)
    lut = np.full(256, -1, dtype=np.int64)
    lut[0] = 0
    lut[IGNORE_INDEX] = IGNORE_INDEX
    for k, v in id_to_index.items():
        lut[int(k)] = int(v)
    if raw.size and (raw.min() < 0 or raw.max() > 255):
        raise LabelDecodeError(f"{path}: id {int(raw.max())} outside 0..255")
    out = lut[raw]
    if (out < 0).any():
        unknown = sorted({int(v) for v in np.unique(raw[out < 0])})
        raise LabelDecodeError(f"{path}: unknown category id(s) {unknown} (known: {sorted(id_to_index)} + 0, 255)")
    return out.astype(np.uint8)


def decode_label_file(
    path: str,
    label_format: str,
    *,
    num_classes: int,
    palette: Optional[np.ndarray] = None,
    id_to_index: Optional[Dict[int, int]] = None,
) -> np.ndarray:
    """Decode one label file according to ``label_format`` -> ``[H, W]`` uint8 (class index / 0-1 / 255)."""
    if label_format == "index":
        return read_index_png(path, num_classes)
    if label_format == "rgb_voc":
        return read_rgb_png(path, palette if palette is not None else voc_palette(num_classes))
    if label_format == "binary":
        return read_binary_png(path)
    if label_format == "coco_vpo":
        if id_to_index is None:
            raise ValueError("label_format 'coco_vpo' needs id_to_index")
        img = _open(path)
        if img.mode not in ("P", "L", "I;16", "I"):
            raise LabelDecodeError(f"{path}: VPO mask must be single-channel (raw COCO ids), got mode {img.mode!r}")
        return remap_ids(np.asarray(img), id_to_index, path)
    raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")
