"""AVSDataPreprocessor: normalisation, BGR->RGB, padding of images and masks, audio batching, errors."""

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_plugin.models.data_preprocessor import AVSDataPreprocessor


def _sample(h, w, t=16, value=7, stereo=False):
    img = torch.arange(3 * h * w, dtype=torch.uint8).reshape(3, h, w)
    audio = torch.linspace(-1, 1, t).repeat(2, 1) if stereo else torch.linspace(-1, 1, t)
    ds = SegDataSample()
    ds.gt_sem_seg = PixelData(data=torch.full((1, h, w), value, dtype=torch.long))
    ds.set_metainfo(dict(img_path=f"f{h}x{w}.jpg", audio_path="a.wav"))
    return dict(img=img, audio=audio), ds


def _batch(samples):
    inputs = [s[0] for s in samples]
    return dict(
        inputs=dict(img=[i["img"] for i in inputs], audio=[i["audio"] for i in inputs]),
        data_samples=[s[1] for s in samples],
    )


def test_normalise_and_channel_swap_by_hand():
    pre = AVSDataPreprocessor(mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0], bgr_to_rgb=True)
    inp, ds = _sample(2, 2)
    out = pre(_batch([(inp, ds)]))
    img = out["inputs"]["img"]
    assert img.shape == (1, 3, 2, 2)
    raw = inp["img"].float()
    # output channel 0 is input channel 2 (BGR -> RGB), normalised with mean[0]/std[0]
    assert torch.allclose(img[0, 0], (raw[2] - 1.0) / 2.0)
    assert torch.allclose(img[0, 2], (raw[0] - 3.0) / 8.0)


def test_pads_images_and_masks_and_records_padding():
    pre = AVSDataPreprocessor(mean=None, std=None, bgr_to_rgb=False, pad_val=-1.0, size_divisor=4)
    out = pre(_batch([_sample(5, 6), _sample(3, 2)]))
    img, samples = out["inputs"]["img"], out["data_samples"]
    assert img.shape == (2, 3, 8, 8)  # max (5, 6) rounded up to multiples of 4
    assert (img[1, :, 3:, :] == -1).all() and (img[1, :, :, 2:] == -1).all()
    gt = samples[1].gt_sem_seg.data
    assert gt.shape == (1, 8, 8)
    assert (gt[:, :3, :2] == 7).all() and (gt[:, 3:, :] == 255).all() and (gt[:, :, 2:] == 255).all()
    assert samples[1].metainfo["padding_size"] == [0, 6, 0, 5]
    assert samples[0].metainfo["batch_input_shape"] == (8, 8)


def test_audio_is_stacked_mono_and_stereo():
    pre = AVSDataPreprocessor()
    out = pre(_batch([_sample(4, 4, t=10), _sample(4, 4, t=10)]))
    assert out["inputs"]["audio"].shape == (2, 10)
    out = pre(_batch([_sample(4, 4, t=10, stereo=True), _sample(4, 4, t=10, stereo=True)]))
    assert out["inputs"]["audio"].shape == (2, 2, 10)
    assert torch.equal(out["inputs"]["audio"][0, 1], torch.linspace(-1, 1, 10))


def test_list_of_dicts_inputs_equal_dict_of_lists():
    pre = AVSDataPreprocessor()
    samples = [_sample(4, 4), _sample(4, 4)]
    a = pre(_batch(samples))["inputs"]
    b = pre(dict(inputs=[s[0] for s in samples], data_samples=[s[1] for s in samples]))["inputs"]
    assert torch.equal(a["img"], b["img"]) and torch.equal(a["audio"], b["audio"])


def test_errors_name_the_problem():
    pre = AVSDataPreprocessor()
    with pytest.raises(ValueError, match="audio windows of one batch differ"):
        pre(_batch([_sample(4, 4, t=10), _sample(4, 4, t=12)]))
    bad = _sample(4, 4)
    bad[1].gt_sem_seg = PixelData(data=torch.zeros(1, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="f4x4.jpg"):
        pre(_batch([bad]))
    with pytest.raises(ValueError, match="larger than the fixed pad size"):
        AVSDataPreprocessor(size=(2, 2))(_batch([_sample(4, 4)]))
    with pytest.raises(ValueError, match="both mean and std"):
        AVSDataPreprocessor(mean=[0, 0, 0], std=None)
