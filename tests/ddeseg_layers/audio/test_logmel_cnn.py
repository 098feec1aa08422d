"""The log-mel CNN baseline tagger: shapes, gradients, builder, frozen mode and strict checkpoint loading."""

import pytest
import torch

from ddeseg_layers.audio import LogMelCNN, build_audio_backbone


def test_logmel_cnn_shapes_and_gradients():
    torch.manual_seed(0)
    net = LogMelCNN(sample_rate=16000, n_mels=64, channels=(4, 8, 8, 16))
    x = torch.randn(3, 16000, requires_grad=True)
    mel = net.log_mel(x)
    assert mel.shape == (3, 1, 64, 101)  # 10 ms hop, centred frames
    y = net(x)
    assert y.shape == (3, 16) and net.out_dim == 16
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        net(torch.randn(2, 2, 16000))
    with pytest.raises(ValueError, match="4 block widths"):
        LogMelCNN(channels=(4, 8))


def test_logmel_cnn_builder_frozen_and_checkpoint(tmp_path):
    cfg = dict(type="logmel_cnn", channels=(4, 8, 8, 16), sample_rate=16000)
    frozen = build_audio_backbone(cfg)
    assert frozen.out_dim == 16 and frozen.sample_rate == 16000
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not frozen.training  # BatchNorm statistics never move in a frozen encoder
    trainable = build_audio_backbone(dict(cfg, frozen=False))
    with torch.no_grad():
        for p in trainable.parameters():
            p.add_(0.1)
    path = tmp_path / "enc.pth"
    torch.save(trainable.net.state_dict(), path)
    loaded = build_audio_backbone(dict(cfg, checkpoint=str(path)))
    x = torch.randn(2, 16000)
    trainable.eval()
    torch.testing.assert_close(loaded(x), trainable(x))
    bad = {k: v for k, v in trainable.net.state_dict().items() if "blocks.3" not in k}
    with pytest.raises(ValueError, match="missing keys"):
        build_audio_backbone(dict(cfg, checkpoint=bad))


def test_logmel_cnn_spec_augment_masks_in_train_mode_only():
    torch.manual_seed(0)
    net = LogMelCNN(sample_rate=16000, channels=(4, 8, 8, 16), freq_masks=2, freq_mask_param=8, time_masks=2)
    plain = LogMelCNN(sample_rate=16000, channels=(4, 8, 8, 16))
    plain.load_state_dict(net.state_dict())  # masks add no parameters: checkpoints stay interchangeable
    x = torch.randn(4, 16000)
    seen = {}
    for name, m in (("aug", net), ("plain", plain)):
        m.blocks[0].register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, inp[0].detach()))
    net.eval(), plain.eval()
    assert torch.equal(net(x), plain(x))  # eval: no masking
    net.train(), plain.train()
    torch.manual_seed(1)
    net(x), plain(x)
    masked, ref = seen["aug"], seen["plain"]  # the blocks' input with and without the masks (same batch statistics)
    changed = masked != ref
    assert changed.any()
    assert torch.all(masked[changed] == 0)  # masked cells are 0, the mean of the bn0-scaled log-mel
    for b in range(4):  # whole mel rows or whole frame columns, at most 2 x 8 rows and 2 x 10 columns per example
        rows = (masked[b, 0] == 0).all(dim=1)
        cols = (masked[b, 0] == 0).all(dim=0)
        assert int(rows.sum()) <= 16 and int(cols.sum()) <= 20
        assert torch.all((rows[:, None] | cols[None, :])[changed[b, 0]])
    with pytest.raises(ValueError, match="SpecAugment"):
        LogMelCNN(freq_masks=-1)


def test_logmel_cnn_out_norm_layer_norm_and_checkpoints(tmp_path):
    torch.manual_seed(0)
    cfg = dict(type="logmel_cnn", channels=(4, 8, 8, 16), sample_rate=16000, frozen=False)
    plain = build_audio_backbone(cfg)
    normed = build_audio_backbone(dict(cfg, out_norm=True))
    assert plain.net.out_norm is None and "out_norm.weight" not in plain.net.state_dict()
    assert set(normed.net.state_dict()) - set(plain.net.state_dict()) == {"out_norm.weight", "out_norm.bias"}
    normed.net.load_state_dict(plain.net.state_dict(), strict=False)  # same trunk
    x = torch.randn(3, 16000)
    raw, y = plain(x), normed(x)  # train mode: batch statistics in the BatchNorms, O(1) features
    assert raw.var(-1).min() > 1e-3  # a spread across channels far below the common offset (~1)
    assert (raw >= 0).all()  # pooled ReLU features: the offset the norm removes
    # LayerNorm at its initial affine (1, 0): zero mean and unit (biased) variance per vector
    torch.testing.assert_close(y.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3), atol=5e-3, rtol=0)
    torch.testing.assert_close(y, (raw - raw.mean(-1, keepdim=True)) / (raw.var(-1, False, keepdim=True) + 1e-5).sqrt())
    (y * torch.randn_like(y)).sum().backward()
    assert normed.net.out_norm.weight.grad.abs().sum() > 0 and normed.net.blocks[0].body[0].weight.grad.abs().sum() > 0
    normed.eval()
    # round trip: a normed checkpoint loads strictly only into a normed encoder
    with torch.no_grad():
        normed.net.out_norm.weight.mul_(2.0)
    path = tmp_path / "normed.pth"
    torch.save(normed.net.state_dict(), path)
    back = build_audio_backbone(dict(cfg, out_norm=True, checkpoint=str(path)))
    back.eval()
    torch.testing.assert_close(back(x), normed(x))
    with pytest.raises(ValueError, match="unexpected keys.*out_norm"):
        build_audio_backbone(dict(cfg, checkpoint=str(path)))
    with pytest.raises(ValueError, match="missing keys.*out_norm"):
        build_audio_backbone(dict(cfg, out_norm=True, checkpoint=plain.net.state_dict()))
