"""SegFormer all-MLP head: shapes, official parameter count, BatchNorm settings, input validation."""

from __future__ import annotations

import pytest
import torch

from ddeseg_layers.head import SegFormerHead


def _feats(b=2, dims=(8, 16, 24, 32), size=16):
    return [torch.randn(b, c, size // 2**i, size // 2**i) for i, c in enumerate(dims)]


def test_output_shape_is_stage1_resolution():
    head = SegFormerHead((8, 16, 24, 32), num_classes=5, embed_dim=12)
    assert head(_feats()).shape == (2, 5, 16, 16)


def test_official_parameter_count_and_names():
    head = SegFormerHead((64, 128, 320, 512), num_classes=71, embed_dim=768, bn_eps=1e-3, bn_momentum=0.03)
    n = sum(p.numel() for p in head.parameters())
    # linear_c: 768*(64+128+320+512) + 4*768; linear_fuse conv 3072*768 (no bias) + BN 2*768; pred 768*71 + 71
    assert n == 768 * 1024 + 4 * 768 + 3072 * 768 + 2 * 768 + 768 * 71 + 71 == 3_204_935
    assert head.linear_fuse.bn.eps == 1e-3 and head.linear_fuse.bn.momentum == 0.03
    assert head.linear_fuse.conv.bias is None
    keys = set(head.state_dict())
    assert {
        "linear_c1.proj.weight",
        "linear_fuse.conv.weight",
        "linear_fuse.bn.running_var",
        "linear_pred.bias",
    } <= keys


def test_linear_embedding_is_per_pixel_and_fusion_order_is_c4_c3_c2_c1():
    torch.manual_seed(0)
    head = SegFormerHead((4, 4, 4, 4), num_classes=1, embed_dim=2, dropout=0.0).eval()
    feats = [torch.zeros(1, 4, 4, 4) for _ in range(4)]
    feats[3] = torch.randn(1, 4, 1, 1).expand(1, 4, 4, 4).contiguous()  # c4 constant over space
    captured = {}
    head.linear_fuse.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    head([feats[0], feats[1], feats[2], feats[3][..., :1, :1]])
    x = captured["x"]
    expected_c4 = head.linear_c4.proj(feats[3][0, :, 0, 0])
    torch.testing.assert_close(x[0, :2], expected_c4[:, None, None].expand(2, 4, 4))  # upsampled constant map
    torch.testing.assert_close(x[0, 6:], head.linear_c1.proj.bias[:, None, None].expand(2, 4, 4))


def test_bad_inputs_raise():
    head = SegFormerHead((8, 16, 24, 32), num_classes=3, embed_dim=8)
    with pytest.raises(ValueError, match="feature 2 must be"):
        head([torch.randn(1, 8, 8, 8), torch.randn(1, 15, 4, 4), torch.randn(1, 24, 2, 2), torch.randn(1, 32, 1, 1)])
    with pytest.raises(ValueError, match="expected 4 feature maps"):
        head(_feats()[:3])
    with pytest.raises(ValueError, match="num_classes"):
        SegFormerHead((8, 16, 24, 32), num_classes=0)
