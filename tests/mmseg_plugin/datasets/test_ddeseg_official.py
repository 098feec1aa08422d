"""DDESegOfficialAVSSDataset: per-frame metadata_w_silent.csv, columns 4/5, audios/<i>.wav, 'L' index labels."""

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from mmseg_plugin.datasets import DDESegOfficialAVSSDataset, LayoutError

pytestmark = pytest.mark.mmseg


def test_items_and_decoding(tmp_path, fx):
    index = fx.make_ddeseg(str(tmp_path))
    ds = DDESegOfficialAVSSDataset(str(tmp_path), split="train", check_files="all")
    assert len(ds) == 1 + 5 + 10
    info = ds.get_data_info(3)
    assert info["clip_id"] == "vidB_1" and info["frame_index"] == 2
    assert info["audio_path"].endswith("v1m/vidB_1/audios/2.wav") and (info["audio_start"], info["audio_end"]) == (
        0.0,
        1.0,
    )
    pipe = Compose(
        [
            dict(type="LoadImageFromFile"),
            dict(type="LoadAVSAnnotations"),
            dict(type="LoadAudioWindow", sample_rate=16000),
            dict(type="PackAVSInputs"),
        ]
    )
    out = pipe(dict(info))
    np.testing.assert_array_equal(out["data_samples"].gt_sem_seg.data[0].numpy(), fx.label_map(index["vidB_1"], 2, 4))
    assert torch.allclose(out["inputs"]["audio"], torch.full((16000,), fx.audio_level(2)))
    test = DDESegOfficialAVSSDataset(str(tmp_path), split="test", subsets=("v2",))
    assert len(test) == 10 and test.metainfo["classes"][3] == "emergency-car"


def test_wrong_columns_are_reported(tmp_path, fx):
    fx.make_ddeseg(str(tmp_path))
    with pytest.raises(LayoutError, match=r"line 2: split .* not valid at columns 5/6"):
        DDESegOfficialAVSSDataset(str(tmp_path), split_column=5, subset_column=6)
