"""VPODataset: SS/MS/MSMI layouts, val -> test, COCO id remap, centred 3-s crops, stereo panning, summed sources."""

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from mmseg_plugin.datasets import VPODataset
from mmseg_plugin.datasets.palette import LabelDecodeError
from mmseg_plugin.datasets.vpo import VPO_CLASSES

pytestmark = pytest.mark.mmseg


def _pipe(**audio):
    return Compose(
        [
            dict(type="LoadImageFromFile"),
            dict(type="LoadAVSAnnotations"),
            dict(type="LoadAudioWindow", **audio),
            dict(type="PackAVSInputs"),
        ]
    )


def _expected_mask(fx, img_id, cats):
    raw = fx.vpo_raw_mask(img_id, cats)
    out = raw.copy()
    for name, cid in fx.VPO_COCO.items():
        out[raw == cid] = VPO_CLASSES.index(name)
    return out


def _centre(n_total, sr, seconds):
    x = np.linspace(-0.5, 0.5, n_total, dtype=np.float32)
    w = int(seconds * sr)
    s = (n_total - w) // 2
    return x[s : s + w]


def test_ss_items_remap_and_stereo(tmp_path, fx):
    fx.make_vpo(str(tmp_path), "ss")
    train = VPODataset(str(tmp_path), setting="ss", split="train", check_files="all")
    test = VPODataset(str(tmp_path), setting="ss", split="test", check_files="all")  # CSV "val"
    assert len(train) == 1 and len(test) == 1 and len(train.metainfo["classes"]) == 22
    info = test.get_data_info(0)
    assert info["img_path"].endswith("VPO-SS/data/000000000012.jpg")
    assert info["seg_map_path"].endswith("VPO-SS/mask/000000000012_000000000502.png")
    assert info["audio_path"].endswith("audios/vggB.wav") and info["audio_start"] is None
    out = _pipe(sample_rate=16000, channels="stereo", pad_mode="tile")(dict(info))
    gt = out["data_samples"].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt, _expected_mask(fx, 12, ["male"]))
    assert gt[-1, -1] == 255
    audio = out["inputs"]["audio"]
    w = _centre(5 * 16000, 16000, 3.0)
    assert audio.shape == (2, 48000)
    np.testing.assert_allclose(audio[0].numpy(), w * (1 - 0.7), atol=1e-6)
    np.testing.assert_allclose(audio[1].numpy(), w * 0.7, atol=1e-6)
    mono = _pipe(sample_rate=16000, channels="mono")(dict(info))["inputs"]["audio"]
    np.testing.assert_allclose(mono.numpy(), w, atol=1e-6)
    with pytest.raises(ValueError, match="split must be one of"):
        VPODataset(str(tmp_path), setting="ss", split="val")


def test_ms_groups_sources_and_sums_audio(tmp_path, fx):
    fx.make_vpo(str(tmp_path), "ms")
    ds = VPODataset(str(tmp_path), setting="ms", split="train", check_files="all")
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert info["seg_map_path"].endswith("VPO-MS/mask/000000000021.png")
    assert len(info["audio_path"]) == 2 and info["audio_pan"] == [0.2, 0.9]
    out = _pipe(sample_rate=16000, channels="stereo", pad_mode="tile")(dict(info))
    w = _centre(5 * 16000, 16000, 3.0)
    np.testing.assert_allclose(out["inputs"]["audio"][0].numpy(), w * (0.8 + 0.1), atol=1e-6)
    np.testing.assert_allclose(out["inputs"]["audio"][1].numpy(), w * (0.2 + 0.9), atol=1e-6)
    gt = out["data_samples"].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt, _expected_mask(fx, 21, ["dog", "car"]))
    assert out["data_samples"].metainfo["audio_window"]["num_sources"] == 2


def test_msmi_fallback_and_unknown_id(tmp_path, fx):
    fx.make_vpo(str(tmp_path), "msmi")
    ds = VPODataset(str(tmp_path), setting="msmi", split="train", check_files="all")
    paths = {ds.get_data_info(k)["clip_id"]: ds.get_data_info(k)["img_path"] for k in range(len(ds))}
    assert paths["31"].endswith("VPO-MSMI/data/000000000031.jpg")
    assert paths["32"].endswith("VPO-MS/data/000000000032.jpg")  # multi_instance == 0 -> VPO-MS files
    # an id outside VPO's table (1 = COCO person, split into 92/93/94 in VPO) is an error naming file and id
    info = dict(ds.get_data_info(0))
    fx.write_index_png(info["seg_map_path"], np.full((fx.H, fx.W), 1, np.uint8), "L")
    with pytest.raises(LabelDecodeError, match=r"000000000031\.png: unknown category id\(s\) \[1\]"):
        _pipe(sample_rate=16000)(info)


def test_short_audio_padding_rule(tmp_path, fx):
    fx.make_vpo(str(tmp_path), "ss", audio_seconds=2.0)
    info = VPODataset(str(tmp_path), setting="ss", split="train").get_data_info(0)
    out = _pipe(sample_rate=16000, pad_mode="tile")(dict(info))
    x = torch.from_numpy(np.linspace(-0.5, 0.5, 32000, dtype=np.float32))
    assert torch.allclose(out["inputs"]["audio"], torch.cat([x, x[:16000]]))
    assert out["data_samples"].metainfo["audio_window"]["num_padded"] == 16000
