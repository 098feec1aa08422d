"""Visual encoder with fusion stages: geometries, stage shapes, DEM placement (eq. 1), gradients, plain-MiT parity."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from ddeseg_layers.encoder import MIT_PRESETS, MiTFusionEncoder, MiTGeometry
from ddeseg_layers.mit_blocks import MiTBlock
from ddeseg_layers.stage_parts import AudioProjection, drop_path_rates

_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)


def test_presets_and_geometry_validation():
    b5 = MiTGeometry.from_spec("mit_b5")
    assert b5.embed_dims == (64, 128, 320, 512) and b5.depths == (3, 6, 40, 3) and b5.sr_ratios == (8, 4, 2, 1)
    assert b5.num_heads == (1, 2, 5, 8) and b5.norm_eps == 1e-6 and b5.strides == (4, 2, 2, 2)
    assert MiTGeometry.from_spec("mit_b0").embed_dims == (32, 64, 160, 256)
    assert MiTGeometry.from_spec({"name": "mit_b1", "depths": [1, 1, 1, 1]}).embed_dims == (64, 128, 320, 512)
    assert set(MIT_PRESETS) >= {"mit_b0", "mit_b1", "mit_b5"}
    with pytest.raises(ValueError, match="unknown MiT encoder"):
        MiTGeometry.from_spec("mit_b9")
    with pytest.raises(ValueError, match="unknown MiT geometry keys"):
        MiTGeometry.from_spec({"dims": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="not divisible"):
        MiTGeometry.from_spec({"embed_dims": [10, 16, 32, 32]})
    assert drop_path_rates(0.1, 5) == pytest.approx(torch.linspace(0, 0.1, 5).tolist())


@pytest.mark.parametrize("variant,strides,first", [("paper", (4, 2, 2, 2), 16), ("official", (2, 2, 2, 2), 32)])
def test_stage_shapes_and_scores(variant, strides, first):
    kw = dict(elimination=dict(num_heads=2)) if variant == "paper" else dict(aligner_heads=2, num_clusters=3)
    enc = MiTFusionEncoder(dict(U.TINY_GEOMETRY, strides=strides), audio_dim=12, variant=variant, **kw)
    feats = enc(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 12))
    assert [tuple(f.shape) for f in feats] == [(2, c, first >> i, first >> i) for i, c in enumerate((16, 16, 32, 32))]
    # paper: Phi_E only for l > 1 (eq. 1); official: an aligner at every stage (softmax over K sums to 1)
    assert len(enc.last_scores) == (3 if variant == "paper" else 4)
    assert all(s.shape == (2, 3) for s in enc.last_scores)
    if variant == "official":
        torch.testing.assert_close(enc.last_scores[0].sum(-1), torch.ones(2))


def test_stage1_dem_switch_and_elimination_compounds_on_audio_tokens():
    enc = MiTFusionEncoder(U.TINY_GEOMETRY, audio_dim=12, elimination=dict(num_heads=2, stage1=True)).eval()
    seen = []
    for proj in enc.aud_projs:
        proj.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    tokens = torch.randn(1, 3, 12)
    enc(torch.randn(1, 3, 32, 32), tokens)
    assert len(enc.last_scores) == 4
    # A^l = S^l * A^(l-1): the tokens projected at stage l+1 are the stage-l tokens scaled by S^l
    for i in range(3):
        torch.testing.assert_close(seen[i + 1], seen[i] * enc.last_scores[i][..., None])


def test_gradients_reach_every_parameter_including_earlier_dems_via_carried_tokens():
    torch.manual_seed(0)
    enc = MiTFusionEncoder(U.TINY_GEOMETRY, audio_dim=12, elimination=dict(num_heads=2))
    tokens = torch.randn(2, 3, 12, requires_grad=True)
    feats = enc(torch.randn(2, 3, 32, 32), tokens)
    sum(f.square().mean() for f in feats).backward()
    missing = [n for n, p in enc.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0


def test_official_blocks_are_plain_mit_blocks_with_eps_and_audio_projection_shape():
    enc = MiTFusionEncoder(dict(U.TINY_GEOMETRY, norm_eps=1e-5), audio_dim=12, variant="official", aligner_heads=2)
    assert all(isinstance(b, MiTBlock) for b in enc.block2)
    assert enc.block1[0].norm1.eps == 1e-5 and enc.patch_embed1.norm.eps == 1e-5
    proj = AudioProjection(768, 320)
    assert proj.fc1.weight.shape == (3072, 768) and proj.fc2.weight.shape == (320, 3072)
    assert sum(p.numel() for p in proj.parameters()) == 768 * 3072 + 3072 + 3072 * 320 + 320


def test_bad_inputs_raise():
    enc = MiTFusionEncoder(U.TINY_GEOMETRY, audio_dim=12, elimination=dict(num_heads=2))
    with pytest.raises(ValueError, match="tokens must be"):
        enc(torch.randn(1, 3, 32, 32), torch.randn(1, 3, 10))
    with pytest.raises(ValueError, match="variant"):
        MiTFusionEncoder(U.TINY_GEOMETRY, variant="v2")
