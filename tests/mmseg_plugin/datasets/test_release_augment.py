"""SoundingBoxRandomCrop and ReleaseColorJitter, the DDESeg release's training augmentation: the crop keeps >= 0.6 of
the sounding box in the release's aspect range with image and masks aligned, the jitter is torchvision's ColorJitter
(ranges, masks untouched, bit-equal to torchvision's on the same draw), both reproduce under a seed, bad input is a
clear error, and the official config's train pipeline runs them on a fixture dataset."""

import os

import numpy as np
import pytest
from PIL import Image

from mmseg_plugin.datasets.transforms import ReleaseColorJitter, SoundingBoxRandomCrop
from mmseg_plugin.datasets.transforms.release_crop import sounding_box

pytestmark = pytest.mark.mmseg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
H, W = 90, 120


def _encoded(height=H, width=W, box=(70, 30, 100, 70)):
    """An image whose pixels encode their coordinates (B = x, G = y, R = label * 40), a label map with a sounding
    object of class 3 in ``box`` (x0, y0, x1, y1) plus one ignore pixel, and a second map in seg_fields."""
    seg = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    seg[y0:y1, x0:x1] = 3
    seg[0, 0] = 255
    ys, xs = np.mgrid[:height, :width]
    img = np.stack([xs, ys, (seg % 6) * 40], axis=-1).astype(np.uint8)
    return dict(
        img=img,
        gt_seg_map=seg,
        aux_map=seg.copy(),
        seg_fields=["gt_seg_map", "aux_map"],
        img_shape=(height, width),
        img_path="vidA/frames/3.jpg",
    )


def _crop(results, seed):
    np.random.seed(seed)
    return SoundingBoxRandomCrop()(results)


def test_sounding_box_of_a_map():
    seg = np.zeros((6, 8), np.uint8)
    assert sounding_box(seg) is None
    seg[0, 0] = 255  # ignore is not a sounding object
    assert sounding_box(seg) is None
    seg[2:4, 5:7] = 9
    assert sounding_box(seg) == (5, 2, 7, 4)


def test_crop_keeps_the_box_fraction_in_the_aspect_range_and_stays_aligned():
    box_xy = (70, 30, 100, 70)
    box_area = (box_xy[2] - box_xy[0]) * (box_xy[3] - box_xy[1])
    cropped = 0
    for seed in range(300):
        out = _crop(_encoded(box=box_xy), seed)
        img, seg = out["img"], out["gt_seg_map"]
        assert img.shape[:2] == seg.shape == out["aux_map"].shape == tuple(out["img_shape"])
        if out["crop_box"] is None:
            assert img.shape[:2] == (H, W)
            continue
        cropped += 1
        x0, y0, x1, y1 = out["crop_box"]
        h, w = seg.shape
        assert (x1 - x0, y1 - y0) == (w, h) and 0 <= x0 and x1 <= W and 0 <= y0 and y1 <= H
        # the pixels themselves say where they came from: B = x, G = y
        np.testing.assert_array_equal(img[..., 0], np.arange(x0, x1)[None, :].repeat(h, 0))
        np.testing.assert_array_equal(img[..., 1], np.arange(y0, y1)[:, None].repeat(w, 1))
        # colours encode the label: the masks stay aligned with the image
        np.testing.assert_array_equal(img[..., 2], (seg % 6) * 40)
        np.testing.assert_array_equal(out["aux_map"], seg)
        # >= 0.6 of the sounding box is kept
        assert (seg == 3).sum() >= 0.6 * box_area
        # aspect in [0.75, 1.33] up to the integer truncation of w and h, unless a side is the full image side
        if w < W and h < H:
            assert w / (h + 1) <= 1.33 and (w + 1) / h >= 0.75
    assert 100 < cropped < 300, "the release's single attempt sometimes keeps the whole frame, mostly crops"


def test_crop_sizes_cover_the_release_range():
    sizes = set()
    for seed in range(200):
        out = _crop(_encoded(), seed)
        if out["crop_box"] is not None:
            sizes.add(out["gt_seg_map"].size)
    assert min(sizes) < 0.3 * H * W and max(sizes) > 0.8 * H * W


def test_no_sounding_object_and_a_given_box():
    res = _encoded()
    res["gt_seg_map"][res["gt_seg_map"] == 3] = 0
    out = _crop(dict(res, img=res["img"].copy()), 0)
    assert out["crop_box"] is None and out["img"].shape[:2] == (H, W)
    np.testing.assert_array_equal(out["img"], res["img"])
    # a normalised box as the release's json (pixels int(x * W)): used instead of the map; None or zero-area: no crop
    for seed in range(100):
        out = _crop(dict(_encoded(), sounding_bbox=[0.0, 0.0, 0.5, 0.5]), seed)
        if out["crop_box"] is not None:
            x0, y0, x1, y1 = out["crop_box"]
            assert (min(x1, 60) - max(x0, 0)) * (min(y1, 45) - max(y0, 0)) >= 0.6 * 60 * 45
    for box in (None, [0.2, 0.2, 0.2, 0.6]):
        assert _crop(dict(_encoded(), sounding_bbox=box), 0)["crop_box"] is None


def test_crop_seeding_reproduces():
    a = [_crop(_encoded(), s)["crop_box"] for s in range(20)]
    b = [_crop(_encoded(), s)["crop_box"] for s in range(20)]
    assert a == b and len(set(a)) > 10


def test_jitter_is_torchvisions_colorjitter_on_the_rgb_image(monkeypatch):
    import torch
    import torchvision.transforms as T

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    jitter = ReleaseColorJitter()
    ops = ("brightness", "contrast", "saturation", "hue")
    for seed in range(6):
        np.random.seed(seed)
        order, factors = jitter.draw_params()
        np.random.seed(seed)
        out = jitter(dict(img=img.copy(), gt_seg_map=np.ones((24, 32), np.uint8)))["img"]
        # the release: T.ColorJitter(0.2, 0.2, 0.2, 0.1) on the RGB PIL image, with the same draw
        params = (torch.tensor([ops.index(o) for o in order]), *(factors[o] for o in ops))
        monkeypatch.setattr(T.ColorJitter, "get_params", staticmethod(lambda *a, p=params: p))
        ref = np.asarray(T.ColorJitter(0.2, 0.2, 0.2, 0.1)(Image.fromarray(img[..., ::-1].copy())))[..., ::-1]
        assert out.dtype == np.uint8 and out.shape == img.shape
        np.testing.assert_array_equal(out, ref)


def test_jitter_ranges_masks_untouched_and_seeding():
    jitter = ReleaseColorJitter()
    np.random.seed(0)
    draws = [jitter.draw_params() for _ in range(400)]
    assert all(sorted(order) == sorted(("brightness", "contrast", "saturation", "hue")) for order, _ in draws)
    assert len({order for order, _ in draws}) == 24
    for op, (lo, hi) in (("brightness", (0.8, 1.2)), ("contrast", (0.8, 1.2)), ("saturation", (0.8, 1.2))):
        vals = np.array([f[op] for _, f in draws])
        assert vals.min() >= lo and vals.max() <= hi and vals.min() < lo + 0.02 and vals.max() > hi - 0.02
    hues = np.array([f["hue"] for _, f in draws])
    assert hues.min() >= -0.1 and hues.max() <= 0.1 and hues.min() < -0.09 and hues.max() > 0.09
    # brightness alone on a grey image scales it by a factor in [0.8, 1.2]
    grey = np.full((8, 8, 3), 100, np.uint8)
    levels = set()
    for seed in range(50):
        np.random.seed(seed)
        out = ReleaseColorJitter(brightness=0.2, contrast=0, saturation=0, hue=0)(dict(img=grey.copy()))["img"]
        assert (out == out[0, 0, 0]).all() and 80 <= out[0, 0, 0] <= 120
        levels.add(int(out[0, 0, 0]))
    assert len(levels) > 10
    # the masks are not touched; a seed reproduces the image
    res = _encoded()
    outs = []
    for _ in range(2):
        np.random.seed(7)
        outs.append(jitter(dict(res, img=res["img"].copy(), gt_seg_map=res["gt_seg_map"].copy())))
    np.testing.assert_array_equal(outs[0]["img"], outs[1]["img"])
    assert not np.array_equal(outs[0]["img"], res["img"])
    np.testing.assert_array_equal(outs[0]["gt_seg_map"], res["gt_seg_map"])
    assert ReleaseColorJitter(0, 0, 0, 0)(dict(img=res["img"].copy()))["img"].tolist() == res["img"].tolist()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="aspect_ratio_range"):
        SoundingBoxRandomCrop(aspect_ratio_range=(1.33, 0.75))
    with pytest.raises(ValueError, match="min_area_ratio"):
        SoundingBoxRandomCrop(min_area_ratio=0.0)
    with pytest.raises(ValueError, match="hue range"):
        ReleaseColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="brightness must be non-negative"):
        ReleaseColorJitter(brightness=-0.1)
    with pytest.raises(KeyError, match="no 'img'"):
        SoundingBoxRandomCrop()(dict())
    with pytest.raises(KeyError, match="no 'img'"):
        ReleaseColorJitter()(dict())
    res = _encoded()
    with pytest.raises(ValueError, match=r"\[H, W, 3\].*vidA/frames/3\.jpg"):
        SoundingBoxRandomCrop()(dict(res, img=res["img"][..., 0]))
    with pytest.raises(ValueError, match=r"'aux_map' has size \(10, 10\).*vidA/frames/3\.jpg"):
        SoundingBoxRandomCrop()(dict(res, aux_map=np.zeros((10, 10), np.uint8)))
    with pytest.raises(ValueError, match=r"sounding_bbox must be normalised.*vidA/frames/3\.jpg"):
        SoundingBoxRandomCrop()(dict(res, sounding_bbox=[0.5, 0.0, 0.2, 1.0]))
    with pytest.raises(ValueError, match=r"sounding_bbox must be 4 numbers.*vidA/frames/3\.jpg"):
        SoundingBoxRandomCrop()(dict(res, sounding_bbox=[0.5, 0.0]))
    with pytest.raises(ValueError, match=r"neither 'sounding_bbox' nor 'gt_seg_map'.*vidA/frames/3\.jpg"):
        SoundingBoxRandomCrop()(dict(img=res["img"], img_path=res["img_path"]))
    with pytest.raises(ValueError, match=r"uint8.*vidA/frames/3\.jpg"):
        ReleaseColorJitter()(dict(res, img=res["img"].astype(np.float32)))
    with pytest.raises(ValueError, match=r"\[H, W, 3\].*vidA/frames/3\.jpg"):
        ReleaseColorJitter()(dict(res, img=np.zeros((0, 4, 3), np.uint8)))


def test_official_config_train_pipeline_on_a_fixture(tmp_path, fx):
    from mmengine.config import Config

    from mmseg_plugin.datasets import DDESegOfficialAVSSDataset

    cfg = Config.fromfile(os.path.join(REPO, "configs", "ddeseg_official_avss.py"))
    types = [t["type"] for t in cfg.train_dataloader.dataset.pipeline]
    assert "PhotoMetricDistortion" not in types
    assert types.index("SoundingBoxRandomCrop") < types.index("RandomFlip") < types.index("ReleaseColorJitter")
    assert types.index("ReleaseColorJitter") < types.index("Resize")
    fx.make_ddeseg(str(tmp_path))
    pipeline = [dict(t, sample_rate=16000) if t["type"] == "LoadAudioWindow" else t for t in cfg.train_pipeline]
    ds = DDESegOfficialAVSSDataset(str(tmp_path), split="train", pipeline=pipeline)
    np.random.seed(0)
    for i in range(3):
        sample = ds[i]
        assert tuple(sample["inputs"]["img"].shape) == (3, 224, 224)
        seg = sample["data_samples"].gt_sem_seg.data
        assert tuple(seg.shape[-2:]) == (224, 224)
        assert set(seg.unique().tolist()) <= set(range(71)) | {255}
