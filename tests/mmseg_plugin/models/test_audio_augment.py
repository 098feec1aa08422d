"""Stage-1 waveform augmentations: shapes, union targets of mixup, label weights, and their use in the classifier."""

import pytest
import torch

from mmseg_plugin.models.audio_augment import WaveformAugment


def test_augment_preserves_shapes_and_identity_when_off():
    x, y, w = torch.randn(5, 800), torch.zeros(5, 3), torch.ones(5)
    out = WaveformAugment()(x, y, w)
    assert all(a is b for a, b in zip(out, (x, y, w)))
    aug = WaveformAugment(mixup_alpha=0.4, time_shift=0.25, gain_db=6.0)
    xa, ya, wa = aug(x, y, w)
    assert xa.shape == x.shape and ya.shape == y.shape and wa.shape == w.shape


def test_time_shift_is_a_circular_roll_and_gain_scales():
    torch.manual_seed(0)
    x = torch.randn(4, 100)
    xs, _, _ = WaveformAugment(time_shift=0.3)(x, torch.zeros(4, 2), torch.ones(4))
    for i in range(4):  # every row is some roll of the original row
        assert any(torch.equal(xs[i], torch.roll(x[i], s)) for s in range(-30, 31))
    xg, _, _ = WaveformAugment(gain_db=6.0)(x, torch.zeros(4, 2), torch.ones(4))
    ratio = xg / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-4)
    assert (ratio[:, 0] >= 10 ** (-6 / 20) - 1e-5).all() and (ratio[:, 0] <= 10 ** (6 / 20) + 1e-5).all()


def test_mixup_gives_union_targets_and_product_weights():
    torch.manual_seed(0)
    b = 6
    y = torch.eye(b)[:, :4]  # rows 4 and 5 have no positive class
    x = torch.arange(b, dtype=torch.float32)[:, None].repeat(1, 10)  # clip i is the constant i
    w = torch.tensor([1.0, 1, 1, 1, 1, 0])
    xm, ym, wm = WaveformAugment(mixup_alpha=1.0, mixup_prob=1.0)(x, y, w)
    for i in range(b):
        row = xm[i]
        assert torch.allclose(row, row[0].expand_as(row))  # a convex mix of two constants is a constant
        partners = [j for j in range(b) if torch.equal(ym[i], torch.maximum(y[i], y[j]))]
        # the mix lies between clip i and its partner, and clip i dominates (lam >= 0.5)
        ok = [
            j
            for j in partners
            if min(i, j) - 1e-5 <= row[0] <= max(i, j) + 1e-5 and abs(row[0] - i) <= abs(row[0] - j) + 1e-5
        ]
        assert ok, (i, row[0], ym[i])
        assert ym[i][i if i < 4 else 0] == (1.0 if i < 4 else ym[i][0])
        assert (ym[i] >= y[i]).all()  # never drops a class of the clip
    assert wm[5] == 0 and ((wm == 0) | (wm == 1)).all()


def test_mixup_prob_zero_leaves_batch():
    x, y, w = torch.randn(4, 50), torch.eye(4), torch.ones(4)
    xm, ym, wm = WaveformAugment(mixup_alpha=0.5, mixup_prob=0.0)(x, y, w)
    assert torch.equal(xm, x) and torch.equal(ym, y) and torch.equal(wm, w)


def test_bad_settings_and_input():
    with pytest.raises(ValueError, match="WaveformAugment"):
        WaveformAugment(mixup_prob=2.0)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        WaveformAugment(gain_db=1.0)(torch.randn(2, 2, 10), torch.zeros(2, 1), torch.ones(2))


def test_classifier_augments_only_in_loss_mode():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_plugin.models.audio_classifier import AVSAudioClassifier

    torch.manual_seed(0)
    clf = AVSAudioClassifier(
        audio=dict(type="logmel_cnn", frozen=False, channels=(4, 4, 8, 8)),
        num_classes=3,
        augment=dict(mixup_alpha=0.5, time_shift=0.1, gain_db=3.0),
        pos_weight=2.0,
    )
    samples = []
    for c in (1, 2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.full((1, 4, 4), c, dtype=torch.long))
        samples.append(s)
    x = torch.randn(2, 16000)
    loss = clf(x, samples, mode="loss")["loss_audio_bce"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    clf.eval()
    torch.testing.assert_close(clf(x, mode="tensor"), clf(x, mode="tensor"))  # no augmentation outside training
    with pytest.raises(ValueError, match="pos_weight"):
        AVSAudioClassifier(audio=dict(type="logmel_cnn"), num_classes=3, pos_weight=0.0)
