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
