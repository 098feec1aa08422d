"""AVSObjectS4Dataset / AVSObjectMS3Dataset: official layouts, labelled frames, binary decoding, wav and .pkl audio."""

import os

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from mmseg_plugin.datasets import AVSObjectMS3Dataset, AVSObjectS4Dataset, LayoutError

pytestmark = pytest.mark.mmseg


def _pipeline(**audio):
    return Compose(
        [
            dict(type="LoadImageFromFile"),
            dict(type="LoadAVSAnnotations"),
            dict(type="LoadAudioWindow", **audio),
            dict(type="PackAVSInputs"),
        ]
    )


def test_s4_items_and_labels(tmp_path, fx):
    fx.make_s4(str(tmp_path))
    train = AVSObjectS4Dataset(str(tmp_path), split="train", check_files="all")
    assert len(train) == 1 and train.metainfo["task"] == "binary"
    info = train.get_data_info(0)
    assert info["img_path"].endswith("s4_data/visual_frames/train/dog_barking/clipA/clipA_1.png")
    assert info["seg_map_path"].endswith("s4_data/gt_masks/train/dog_barking/clipA/clipA_1.png")
    assert info["audio_path"].endswith("s4_data/audio_wav/train/dog_barking/clipA.wav")
    assert info["category"] == "dog_barking" and info["label_format"] == "binary"
    keep = AVSObjectS4Dataset(str(tmp_path), split="train", keep_unlabelled=True)
    assert [keep.get_data_info(k)["has_label"] for k in range(5)] == [True, False, False, False, False]
    val = AVSObjectS4Dataset(str(tmp_path), split="val", pipeline=None)
    assert len(val) == 5
    pipe = _pipeline(sample_rate=16000)
    for k in range(5):
        out = pipe(dict(val.get_data_info(k)))
        gt = out["data_samples"].gt_sem_seg.data
        assert gt.dtype == torch.int64 and gt.shape == (1, fx.H, fx.W)
        np.testing.assert_array_equal(gt[0].numpy(), fx.binary_mask(1, k))
        assert torch.allclose(out["inputs"]["audio"], torch.full((16000,), fx.audio_level(k)))


def test_s4_log_mel_pkl_source(tmp_path, fx):
    fx.make_s4(str(tmp_path))
    ds = AVSObjectS4Dataset(str(tmp_path), split="test", audio_source="log_mel_pkl", check_files="all")
    info = ds.get_data_info(3)
    assert info["audio_path"].endswith("s4_data/audio_log_mel/test/dog_barking/clipC.pkl")
    out = _pipeline()(dict(info))
    assert torch.equal(out["inputs"]["audio"], fx.log_mel_tensor(2)[3])
    assert out["data_samples"].metainfo["audio_window"]["format"] == "log_mel_pkl"
    with pytest.raises(ValueError, match="audio_source must be one of"):
        AVSObjectS4Dataset(str(tmp_path), audio_source="mp3")


def test_s4_missing_mask_named(tmp_path, fx):
    fx.make_s4(str(tmp_path))
    os.remove(tmp_path / "s4_data/gt_masks/val/male_speech/clipB/clipB_1.png")
    with pytest.raises(LayoutError, match=r"AVSObjectS4Dataset: missing seg_map_path file .*clipB_1\.png"):
        AVSObjectS4Dataset(str(tmp_path), split="val")


def test_ms3_layout(tmp_path, fx):
    fx.make_ms3(str(tmp_path))
    ds = AVSObjectMS3Dataset(str(tmp_path), split="val", check_files="all")
    assert len(ds) == 5
    info = ds.get_data_info(2)
    assert info["img_path"].endswith("ms3_data/visual_frames/msB/msB.mp4_3.png")
    assert info["seg_map_path"].endswith("ms3_data/gt_masks/val/msB/msB_3.png")
    assert info["audio_path"].endswith("ms3_data/audio_wav/val/msB.wav")
    out = _pipeline(sample_rate=8000)(dict(info))
    np.testing.assert_array_equal(out["data_samples"].gt_sem_seg.data[0].numpy(), fx.binary_mask(1, 2))
    assert out["inputs"]["audio"].shape == (8000,)
    train = AVSObjectMS3Dataset(str(tmp_path), split="train")
    assert len(train) == 5  # MS3 train has all 5 masks
    pkl = AVSObjectMS3Dataset(str(tmp_path), split="test", audio_source="log_mel_pkl")
    assert pkl.get_data_info(0)["audio_path"].endswith("ms3_data/audio_log_mel/test/msC.pkl")
