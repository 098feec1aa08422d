"""MiTBackbone: the visual-only MiT whose weights pre-train a fusion encoder (NVlabs keys)."""

import pytest
import torch

from ddeseg_layers.converters import load_encoder_pretrained
from ddeseg_layers.encoder import MiTFusionEncoder
from ddeseg_layers.mit_backbone import MiTBackbone

TINY = dict(embed_dims=[16, 32, 64, 128], num_heads=[1, 2, 4, 8], depths=[1, 1, 2, 1], sr_ratios=[8, 4, 2, 1],
            mlp_ratios=[2, 2, 2, 2], drop_path_rate=0.0)  # fmt: skip


def test_shapes():
    torch.manual_seed(0)
    feats = MiTBackbone(TINY)(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 24), (2, 32, 8, 12), (2, 64, 4, 6), (2, 128, 2, 3)]


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_weights_load_into_a_fusion_encoder(variant):
    torch.manual_seed(0)
    bb = MiTBackbone(TINY)
    enc = MiTFusionEncoder(TINY, audio_dim=24, variant=variant)
    report = load_encoder_pretrained(enc, bb.state_dict())
    assert report.missing_allowed  # the audio parts stay at their initialisation
    sd = enc.state_dict()
    for k, v in bb.state_dict().items():
        torch.testing.assert_close(sd[k], v, rtol=0, atol=0)
    # the first patch embedding sees only the image: identical tokens
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(enc.patch_embed1(x)[0], bb.patch_embed1(x)[0])


def test_rejects_a_bad_image():
    with pytest.raises(ValueError, match="image must be"):
        MiTBackbone(TINY)(torch.randn(3, 64, 64))
