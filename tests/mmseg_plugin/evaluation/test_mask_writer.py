"""AVSMaskWriter: predicted masks written as PNGs read back exactly through the datasets' own label decoders."""

import csv
import os

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_plugin.datasets.palette import read_binary_png, read_index_png, read_rgb_png, voc_palette
from mmseg_plugin.evaluation import AVSMaskWriter, AVSMetric

pytestmark = pytest.mark.mmseg

AVSS_META = dict(classes=tuple(f"c{i}" for i in range(71)), palette=voc_palette(71).tolist(), task="semantic")
BINARY_META = dict(classes=("background", "sounding"), palette=[[0, 0, 0], [255, 255, 255]], task="binary")


def _sample(pred, clip="clipA", index=0, path=None, has_label=True, gt=None):
    meta = dict(img_path=path or f"/data/{clip}/frames/{index}.jpg", has_label=has_label)
    if clip is not None:
        meta["clip_id"] = clip
    if index is not None:
        meta["frame_index"] = index
    s = SegDataSample(metainfo=meta)
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    if gt is not None:
        s.gt_sem_seg = PixelData(data=torch.as_tensor(gt).long()[None])
    return s


def _run(metric, samples, meta, batch_size=2):
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch_size):
        metric.process(None, [s.to_dict() for s in samples[i : i + batch_size]])
    return metric.evaluate(len(samples))


def _manifest(folder):
    with open(os.path.join(folder, "masks.csv")) as f:
        return list(csv.DictReader(f))


def test_semantic_masks_round_trip_as_index_and_as_voc_colour(tmp_path):
    g = torch.Generator().manual_seed(0)
    preds = [torch.randint(0, 71, (7, 9), generator=g) for _ in range(3)]
    preds[0][0, 0] = 70  # the largest AVSS class index
    samples = [
        _sample(preds[0], "vid2", 3),
        _sample(preds[1], "vid1", 1),
        _sample(preds[2], "vid1", 0, has_label=False),
    ]
    out = tmp_path / "masks"
    r = _run(AVSMaskWriter(str(out)), samples, AVSS_META)
    assert r == {"masks/num_written": 3}
    for pred, (clip, idx) in zip(preds, [("vid2", 3), ("vid1", 1), ("vid1", 0)]):
        path = str(out / clip / f"{idx}.png")
        assert Image.open(path).mode == "P"
        np.testing.assert_array_equal(read_index_png(path, 71), pred.numpy())
        np.testing.assert_array_equal(read_rgb_png(path, voc_palette(71)), pred.numpy())  # labels_rgb decoding
    rows = _manifest(out)
    assert [(r["clip_id"], r["frame_index"]) for r in rows] == [("vid1", "0"), ("vid1", "1"), ("vid2", "3")]
    assert rows[0]["mask"] == "vid1/0.png" and rows[0]["has_label"] == "False"
    assert rows[2]["img_path"] == "/data/vid2/frames/3.jpg"


def test_binary_masks_are_0_255_grey_like_avsbench(tmp_path):
    pred = torch.tensor([[0, 1, 1], [1, 0, 0]])
    out = tmp_path / "s4"
    _run(AVSMaskWriter(str(out)), [_sample(pred.float(), "dog_x", 4)], BINARY_META)  # float but integer-valued
    path = str(out / "dog_x" / "4.png")
    img = Image.open(path)
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), pred.numpy() * 255)
    np.testing.assert_array_equal(read_binary_png(path), pred.numpy())


def test_original_resolution_is_nearest_resize_to_ori_shape(tmp_path):
    pred = torch.tensor([[0, 3], [5, 70]])
    s = _sample(pred, "v", 2)
    s.set_metainfo(dict(ori_shape=(4, 6)))
    _run(AVSMaskWriter(str(tmp_path / "o"), resolution="original"), [s], AVSS_META)
    expect = pred.numpy().repeat(2, axis=0).repeat(3, axis=1)
    np.testing.assert_array_equal(read_index_png(str(tmp_path / "o" / "v" / "2.png"), 71), expect)
    _run(AVSMaskWriter(str(tmp_path / "e")), [s], AVSS_META)  # default: the scored map, unchanged
    np.testing.assert_array_equal(read_index_png(str(tmp_path / "e" / "v" / "2.png"), 71), pred.numpy())
    with pytest.raises(ValueError, match=r"no ori_shape"):
        _run(AVSMaskWriter(str(tmp_path / "x"), resolution="original"), [_sample(pred, "v", 2)], AVSS_META)


def test_runs_beside_avsmetric_in_one_evaluator(tmp_path):
    init_default_scope("mmseg")
    out = tmp_path / "m"
    ev = Evaluator(
        [dict(type="AVSMetric", mode="dataset", report=("dataset",)), dict(type="AVSMaskWriter", output_dir=str(out))]
    )
    ev.dataset_meta = dict(classes=("background", "a", "b"), palette=voc_palette(3).tolist(), task="semantic")
    gt = torch.tensor([[0, 1], [2, 2]])
    ev.process(
        data_samples=[_sample(gt.clone(), "c", 0, gt=gt), _sample(torch.zeros(2, 2, dtype=torch.long), "c", 1, gt=gt)]
    )
    r = ev.evaluate(2)
    assert r["masks/num_written"] == 2 and 0 < r["mJ"] < 100
    assert isinstance(ev.metrics[0], AVSMetric) and len(_manifest(out)) == 2


def test_errors_name_the_frame(tmp_path):
    out = str(tmp_path / "e")
    p = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"/data/a/frames/0.jpg and /data/other.jpg both map to a/0.png"):
        _run(AVSMaskWriter(out), [_sample(p, "a", 0), _sample(p, "a", 0, path="/data/other.jpg")], AVSS_META)
    with pytest.raises(ValueError, match=r"x.jpg has no clip_id / frame_index"):
        _run(AVSMaskWriter(out), [_sample(p, None, 0, path="x.jpg")], AVSS_META)
    with pytest.raises(ValueError, match=r"clip_id '../up' cannot name a file"):
        _run(AVSMaskWriter(out), [_sample(p, "../up", 0)], AVSS_META)
    with pytest.raises(ValueError, match=r"binary prediction holds values other than 0 and 1"):
        _run(AVSMaskWriter(out), [_sample(p + 2, "a", 0)], BINARY_META)
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 254\]"):
        _run(AVSMaskWriter(out), [_sample(p + 255, "a", 0)], AVSS_META)
    with pytest.raises(ValueError, match=r"non-integer"):
        _run(AVSMaskWriter(out), [_sample(p + 0.5, "a", 0)], AVSS_META)
    with pytest.raises(ValueError, match=r"AVSMaskWriter: pred_sem_seg of .*a/frames/0.jpg must be \[1, H, W\]"):
        two = _sample(p, "a", 0)
        two.pred_sem_seg = PixelData(data=torch.zeros(2, 2, 2, dtype=torch.long))  # two channels: not a label map
        _run(AVSMaskWriter(out), [two], AVSS_META)
    with pytest.raises(ValueError, match=r"task is None"):
        _run(AVSMaskWriter(out), [_sample(p, "a", 0)], dict(classes=("a", "b")))
