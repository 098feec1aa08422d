"""VOC palette, RGB -> index decoding (round trip, unknown colour), index/binary PNG modes, VPO id remap."""

import json

import numpy as np
import pytest
from PIL import Image

from mmseg_plugin.datasets.layout_checks import LayoutError, read_label2idx
from mmseg_plugin.datasets.palette import (
    LabelDecodeError,
    index_to_rgb,
    read_binary_png,
    read_index_png,
    read_rgb_png,
    remap_ids,
    rgb_to_index,
    voc_palette,
)
from mmseg_plugin.datasets.vpo import VPO_CLASSES, vpo_id_to_index

pytestmark = pytest.mark.mmseg


def test_voc_palette_known_values_and_distinct(fx):
    pal = voc_palette(71)
    assert pal[:6].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]]
    assert pal[8].tolist() == [64, 0, 0]  # index 8 = bit 3 -> R bit 6
    np.testing.assert_array_equal(pal, fx.voc_palette(71))
    assert len({tuple(c) for c in voc_palette(256)}) == 256


def test_rgb_round_trip_and_unknown_colour(tmp_path):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 71, size=(9, 7)).astype(np.uint8)
    pal = voc_palette(71)
    np.testing.assert_array_equal(rgb_to_index(index_to_rgb(idx, pal), pal), idx)
    rgb = index_to_rgb(idx, pal)
    rgb[4, 2] = (1, 2, 3)
    p = tmp_path / "bad.png"
    Image.fromarray(rgb).save(p)
    with pytest.raises(LabelDecodeError, match=r"bad\.png: colour \(1, 2, 3\) at pixel \(y=4, x=2\)"):
        read_rgb_png(str(p), pal)


def test_index_png_modes(tmp_path, fx):
    m = fx.label_map(2, 1, 4)
    for mode in ("P", "L"):
        p = tmp_path / f"{mode}.png"
        fx.write_index_png(str(p), m, mode)
        assert Image.open(p).mode == mode
        np.testing.assert_array_equal(read_index_png(str(p), 4), m)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(rgb)
    with pytest.raises(LabelDecodeError, match=r"rgb\.png.*mode 'RGB'"):
        read_index_png(str(rgb), 4)
    big = tmp_path / "big.png"
    fx.write_index_png(str(big), np.full((3, 3), 9, np.uint8), "L")
    with pytest.raises(LabelDecodeError, match=r"big\.png: pixel value 9"):
        read_index_png(str(big), 4)


def test_binary_png_modes(tmp_path, fx):
    m = fx.binary_mask(1, 2)
    for mode in ("1", "P", "L"):
        p = tmp_path / f"b{mode}.png"
        fx.write_binary_png(str(p), m, mode)
        assert Image.open(p).mode == mode
        np.testing.assert_array_equal(read_binary_png(str(p)), m)


def test_vpo_id_remap():
    table = vpo_id_to_index()
    assert table[18] == VPO_CLASSES.index("dog") and table[92] == VPO_CLASSES.index("male")
    assert len(table) == 21 and sorted(table.values()) == list(range(1, 22))
    raw = np.array([[0, 18, 255], [92, 94, 3]], dtype=np.uint8)
    out = remap_ids(raw, table, "m.png")
    assert out.tolist() == [[0, 9, 255], [14, 2, 5]]
    with pytest.raises(LabelDecodeError, match=r"m\.png: unknown category id\(s\) \[1\]"):
        remap_ids(np.array([[1, 18]]), table, "m.png")


def test_real_label2idx(tmp_path):
    classes = read_label2idx("/work/shared/data/avss_label2idx.json", "T")
    assert len(classes) == 71 and classes[0] == "background" and classes[1] == "accordion"
    assert classes[-1] == "woman" and "emergency-car" in classes
    bad = tmp_path / "l.json"
    bad.write_text(json.dumps({"background": 0, "dog": 1}))
    with pytest.raises(LayoutError, match=r"l\.json values must be exactly 1\.\.2"):
        read_label2idx(str(bad), "T")
