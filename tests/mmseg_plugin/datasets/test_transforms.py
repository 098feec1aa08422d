"""Full pipelines: mmseg's LoadImageFromFile/Resize/RandomFlip/PhotoMetricDistortion with the AVS transforms."""

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmseg.structures import SegDataSample

from mmseg_plugin.datasets import AVSSemanticDataset, LoadAudioWindow, LoadAVSAnnotations, PackAVSInputs
from mmseg_plugin.datasets.palette import LabelDecodeError

pytestmark = pytest.mark.mmseg


def _dataset(root, fx, **kw):
    fx.make_avss(str(root))
    return AVSSemanticDataset(str(root), split="train", **kw)


def test_pipeline_rgb_and_semantic_agree_and_pack(tmp_path, fx):
    base = [dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow")]
    fx.make_avss(str(tmp_path))
    outs = {}
    for src in ("rgb", "semantic"):
        ds = AVSSemanticDataset(
            str(tmp_path), split="train", label_source=src, pipeline=base + [dict(type="PackAVSInputs")]
        )
        outs[src] = [ds[k] for k in range(len(ds))]
    index = {u: c for c, (u, *_r) in enumerate(fx.AVSS_CLIPS)}
    for a, b in zip(outs["rgb"], outs["semantic"]):
        assert torch.equal(a["data_samples"].gt_sem_seg.data, b["data_samples"].gt_sem_seg.data)
    for out in outs["rgb"]:
        ds_meta = out["data_samples"].metainfo
        img, audio = out["inputs"]["img"], out["inputs"]["audio"]
        assert isinstance(out["data_samples"], SegDataSample)
        assert img.dtype == torch.uint8 and img.shape == (3, fx.H, fx.W)
        assert audio.dtype == torch.float32 and audio.shape == (16000,)
        i = ds_meta["frame_index"]
        assert torch.allclose(audio, torch.full((16000,), fx.audio_level(i)))
        expected = fx.label_map(index[ds_meta["clip_id"]], i, 4)
        np.testing.assert_array_equal(out["data_samples"].gt_sem_seg.data[0].numpy(), expected)
        assert ds_meta["has_label"] and ds_meta["audio_window"]["pad_mode"] == "zero"
        assert ds_meta["ori_shape"] == (fx.H, fx.W)


def test_unlabelled_frames_are_ignore(tmp_path, fx):
    pipe = [dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow"),
            dict(type="PackAVSInputs")]  # fmt: skip
    ds = _dataset(tmp_path, fx, keep_unlabelled=True, pipeline=pipe)
    out = ds[1]  # vidA frame 1 (v1s train, no mask)
    assert out["data_samples"].metainfo["has_label"] is False
    assert out["data_samples"].metainfo["seg_map_path"] is None
    assert (out["data_samples"].gt_sem_seg.data == 255).all()


def test_mmseg_geometric_and_photometric_transforms(tmp_path, fx):
    ds = _dataset(tmp_path, fx)
    info = ds.get_data_info(0)
    load = Compose([dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow")])
    base = load(dict(info))
    assert base["gt_seg_map"].dtype == np.uint8 and base["seg_fields"] == ["gt_seg_map"]
    aug = Compose(
        [
            dict(type="Resize", scale=(32, 24), keep_ratio=False),
            dict(type="RandomFlip", prob=1.0, direction="horizontal"),
            dict(type="PhotoMetricDistortion"),
            dict(type="PackAVSInputs"),
        ]
    )
    out = aug(load(dict(info)))
    gt = out["data_samples"].gt_sem_seg.data[0].numpy()
    assert gt.shape == (24, 32) and out["inputs"]["img"].shape == (3, 24, 32)
    # nearest-neighbour resize then horizontal flip of the original map
    ys = (np.arange(24) * fx.H / 24).astype(int)
    xs = (np.arange(32) * fx.W / 32).astype(int)
    np.testing.assert_array_equal(gt, base["gt_seg_map"][ys][:, xs][:, ::-1])
    assert out["data_samples"].metainfo["flip"] is True
    assert out["inputs"]["img"].dtype == torch.uint8
    assert torch.equal(out["inputs"]["audio"], torch.from_numpy(base["audio"]))


def test_mask_image_size_mismatch_and_bad_format(tmp_path, fx):
    ds = _dataset(tmp_path, fx)
    info = dict(ds.get_data_info(0))
    fx.write_rgb_png(info["seg_map_path"], np.zeros((5, 5), np.uint8), 4)
    with pytest.raises(LabelDecodeError, match=r"labels_rgb/0\.png: mask size \(5, 5\) differs from image"):
        Compose([dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations")])(info)
    with pytest.raises(ValueError, match="label_format must be one of"):
        LoadAVSAnnotations()(dict(info, label_format="polygon"))


def test_audio_transform_records_rule_and_errors(tmp_path, fx):
    fx.make_avss(str(tmp_path), audio_seconds={"vidC_0_10000": 7})  # a v2 clip 3 s short
    ds = AVSSemanticDataset(str(tmp_path), split="train", subsets="v2")
    t = LoadAudioWindow(sample_rate=8000, pad_mode="repeat_last_second")
    r = t(dict(ds.get_data_info(8)))  # window [8, 9) of a 7-s clip -> the last second (second 6)
    assert r["audio"].shape == (8000,) and r["audio_window"]["num_padded"] == 8000
    np.testing.assert_allclose(r["audio"][100:-100], fx.audio_level(6), atol=1e-3)  # sinc resampling ripple
    z = LoadAudioWindow(sample_rate=8000, pad_mode="zero")(dict(ds.get_data_info(8)))
    assert np.abs(z["audio"]).max() == 0.0
    for k in range(3):
        t(dict(ds.get_data_info(k)))
    assert t.cache.misses == 1  # one decode for all windows of the clip
    info = dict(ds.get_data_info(0))
    with open(info["audio_path"], "wb") as f:
        f.write(b"not audio at all")
    with pytest.raises(Exception, match=r"vidC_0_10000/audio\.wav"):
        LoadAudioWindow()(info)
    with pytest.raises(ValueError, match="pad_mode must be one of"):
        LoadAudioWindow(pad_mode="mirror")
    with pytest.raises(KeyError, match="lack 'audio'"):
        PackAVSInputs()(dict(img=np.zeros((2, 2, 3), np.uint8), img_path="x.jpg"))
