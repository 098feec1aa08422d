"""Checkpoint key mappers: published key sets (fixtures) load strictly; converters round-trip values exactly."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from ddeseg_layers.checkpoint import CheckpointMismatchError, load_state_dict_strict
from ddeseg_layers.converters import (
    load_encoder_pretrained,
    load_official_ddeseg,
    mmseg_mit_to_nvlabs,
    nvlabs_mit_to_mmseg,
    nvlabs_mit_to_ours,
    official_ddeseg_to_ours,
    ours_to_nvlabs_mit,
    ours_to_official_ddeseg,
    pvt_original_to_timm,
    timm_pvt_to_original,
)
from ddeseg_layers.encoder import MiTFusionEncoder
from ddeseg_layers.mit_blocks import is_mit_key
from ddeseg_layers.model import build_ddeseg, preset_config

_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)


@pytest.fixture(scope="module")
def meta_b5_paper_encoder():
    with torch.device("meta"):
        return MiTFusionEncoder("mit_b5", audio_dim=768, variant="paper")


# ------------------------------------------------------------------ published key sets fit (names + shapes)
def test_nvlabs_mit_b5_keys_fit_paper_encoder(meta_b5_paper_encoder):
    enc = meta_b5_paper_encoder
    mapped, dropped = nvlabs_mit_to_ours(U.meta_state_dict(U.fixture_keys("nvlabs_mit_b5.json")))
    assert dropped == ["head.weight", "head.bias"]
    new = set(enc.new_keys())
    U.assert_fits(enc, mapped, new)
    # the new keys are exactly the audio-specific ones
    assert not any(is_mit_key(k) for k in new)
    assert {k.split(".")[0] for k in new} == {"aud_projs", "dems", "block1", "block2", "block3", "block4"}
    assert all(".cross_attn." in k or ".norm_audio." in k or ".norm_tokens." in k for k in new if k[:5] == "block")


def test_mmseg_mit_b5_keys_fit_after_reverse_mit2mmseg(meta_b5_paper_encoder):
    mapped = mmseg_mit_to_nvlabs(U.meta_state_dict(U.fixture_keys("mmseg_mit_b5.json")))
    nv = {k: v for k, v in U.fixture_keys("nvlabs_mit_b5.json").items() if not k.startswith("head.")}
    assert {k: list(v.shape) for k, v in mapped.items()} == nv
    U.assert_fits(meta_b5_paper_encoder, mapped, set(meta_b5_paper_encoder.new_keys()))


def test_timm_and_original_pvt_v2_b5_keys_fit():
    from ddeseg_layers.pvt import PVTFusionEncoder

    with torch.device("meta"):
        enc = PVTFusionEncoder("pvt_v2_b5", audio_dim=128)
    timm_sd = U.meta_state_dict(U.fixture_keys("timm_pvt_v2_b5.json"))
    original = timm_pvt_to_original(timm_sd)  # AVSBench pvt_v2_b5.pth naming
    assert "block3.39.mlp.dwconv.dwconv.weight" in original and "patch_embed4.proj.weight" in original
    for sd in (timm_sd, original):
        mapped, dropped = pvt_original_to_timm(sd)
        assert dropped == ["head.weight", "head.bias"]
        U.assert_fits(enc, {"pvt." + k: v for k, v in mapped.items()}, set(enc.new_keys()))


def test_official_ddeseg_keys_fit_official_model():
    cfg = preset_config("official")
    cfg["audio"] = dict(type="precomputed", dim=768)  # HTSAT keys: see test_official_audio_model_keys_map
    with torch.device("meta"):
        model = build_ddeseg(cfg)
    mapped = official_ddeseg_to_ours(U.meta_state_dict(U.fixture_keys("official_ddeseg.json")))
    U.assert_fits(model, mapped, {k for k in model.state_dict() if k.startswith("memory.")})


@pytest.mark.slow
def test_published_key_sets_load_strictly_through_loaders(meta_b5_paper_encoder):
    """Full strict loads (value checks included) of all four published key sets; slow on 2 CPU cores."""
    from ddeseg_layers.pvt import PVTFusionEncoder

    for name in ("nvlabs_mit_b5.json", "mmseg_mit_b5.json"):
        sd = U.cheap_state_dict(U.fixture_keys(name))
        report = U.load_into_meta(load_encoder_pretrained, meta_b5_paper_encoder, sd)
        assert len(report.loaded) == len(U.fixture_keys("nvlabs_mit_b5.json")) - 2
    with torch.device("meta"):
        pvt = PVTFusionEncoder("pvt_v2_b5", audio_dim=128)
    report = U.load_into_meta(load_encoder_pretrained, pvt, U.cheap_state_dict(U.fixture_keys("timm_pvt_v2_b5.json")))
    assert report.ignored == ["head.bias", "head.weight"]
    cfg = preset_config("official")
    cfg["audio"] = dict(type="precomputed", dim=768)
    model = build_ddeseg(cfg)  # a real model: the memory's load hook needs data
    sd = U.cheap_state_dict(U.fixture_keys("official_ddeseg.json"))
    report = load_official_ddeseg(model, sd, bank=torch.randn(71, 5, 768))
    assert len(report.loaded) == len(sd)
    torch.testing.assert_close(model.head.linear_pred.bias, sd["decode_head.linear_pred.bias"])
    bad = dict(sd)
    bad["decode_head.linear_pred.weight"] = torch.zeros(22, 768, 1, 1)
    with pytest.raises(CheckpointMismatchError, match="head.linear_pred.weight"):
        load_official_ddeseg(model, bad)


def test_segformer_ade_style_checkpoint_ignores_decode_head():
    enc = _tiny_official_encoder()
    sd = {"backbone." + k: v for k, v in nvlabs_mit_to_mmseg(ours_to_nvlabs_mit(enc.state_dict())).items()}
    sd["decode_head.conv_seg.weight"] = torch.zeros(150, 256, 1, 1)
    report = load_encoder_pretrained(enc, sd)
    assert report.ignored == ["decode_head.conv_seg.weight"]
    assert report.missing_allowed and all(k.startswith(("aud_projs", "av_aligners")) for k in report.missing_allowed)


def test_official_audio_model_keys_map_to_htsat():
    """`audio_model.*` (HTSAT without `sed_model.`, 527-class head as in htsat_audioset.json) -> audio.net.*."""
    from ddeseg_layers.audio import build_audio_backbone

    net = build_audio_backbone(dict(type="htsat", variant="official")).net
    htsat = U.fixture_keys("htsat_audioset.json")
    sd = {"audio_model." + k: torch.zeros(0) for k in htsat}
    mapped = official_ddeseg_to_ours(sd, audio_prefix="audio.net.")
    ours = {"audio.net." + k for k in net.state_dict()}
    assert set(mapped) == ours


# ------------------------------------------------------------------ round trips (real values)
def _tiny_official_encoder():
    torch.manual_seed(0)
    return MiTFusionEncoder(U.TINY_GEOMETRY, audio_dim=32, variant="official", aligner_heads=2, num_clusters=3)


def test_nvlabs_mmseg_round_trip_is_exact():
    enc = _tiny_official_encoder()
    nv = ours_to_nvlabs_mit(enc.state_dict())
    mm = nvlabs_mit_to_mmseg(nv)
    assert mm["layers.0.1.0.attn.attn.in_proj_weight"].shape == (48, 16)
    assert mm["layers.0.1.0.ffn.layers.0.weight"].shape == (64, 16, 1, 1)
    back = mmseg_mit_to_nvlabs(mm)
    assert back.keys() == nv.keys()
    for k in nv:
        torch.testing.assert_close(back[k], nv[k], rtol=0, atol=0)


def test_mit_weights_transfer_into_paper_encoder_and_official_encoder():
    src = _tiny_official_encoder()
    nv = ours_to_nvlabs_mit(src.state_dict())
    nv["head.weight"] = torch.zeros(10, 32)
    nv["head.bias"] = torch.zeros(10)
    dst = MiTFusionEncoder(U.TINY_GEOMETRY, audio_dim=32, variant="paper", elimination=dict(num_heads=2))
    report = load_encoder_pretrained(dst, nv)
    for k in report.loaded:
        torch.testing.assert_close(dst.state_dict()[k], nv[k], rtol=0, atol=0)
    assert "block2.1.cross_attn.q.weight" in report.missing_allowed
    mapped, dropped = nvlabs_mit_to_ours(nv)
    assert dropped == ["head.weight", "head.bias"] and set(mapped) == set(report.loaded)


def test_pvt_original_timm_round_trip():
    from timm.models.pvt_v2 import PyramidVisionTransformerV2

    torch.manual_seed(0)
    net = PyramidVisionTransformerV2(depths=(1, 1, 1, 1), embed_dims=(8, 8, 16, 16), num_heads=(1, 1, 2, 2))
    sd = net.state_dict()
    orig = timm_pvt_to_original(sd)
    assert "block2.0.mlp.dwconv.dwconv.weight" in orig and "norm4.weight" in orig
    back, dropped = pvt_original_to_timm(orig)
    assert dropped == ["head.weight", "head.bias"] or dropped == []
    for k, v in back.items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)


def test_official_round_trip_on_tiny_official_model(tmp_path):
    cfg = U.tiny_cfg(variant="official", elimination={}, audio=dict(type="htsat", size="tiny", variant="official"))
    torch.manual_seed(0)
    src = build_ddeseg(cfg)
    official = ours_to_official_ddeseg(src.state_dict(), audio_prefix="audio.net.")
    assert all(k.split(".")[0] in ("backbone", "aud_enhancer", "decode_head", "audio_model") for k in official)
    assert "backbone.av_aligners.3.va_cros_interaction.q_proj.weight" in official
    path = tmp_path / "ddeseg_official.pth"
    torch.save({"model": official, "epoch": 3, "miou": 0.5}, path)  # official checkpoint container
    torch.manual_seed(1)
    dst = build_ddeseg(cfg)
    bank = torch.randn(4, 5, dst.audio_dim).numpy()
    load_official_ddeseg(dst, path, bank=bank)
    for k, v in src.state_dict().items():
        if not k.startswith("memory."):
            torch.testing.assert_close(dst.state_dict()[k], v, rtol=0, atol=0)
    torch.testing.assert_close(dst.memory.reps, torch.from_numpy(bank))


# ------------------------------------------------------------------ strict errors
def test_strict_errors_list_missing_unexpected_and_shape_keys():
    enc = _tiny_official_encoder()
    nv = ours_to_nvlabs_mit(enc.state_dict())
    del nv["norm4.weight"]
    nv["block1.0.attn.q.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError) as err:
        load_encoder_pretrained(enc, nv)
    msg = str(err.value)
    assert "missing keys (1): norm4.weight" in msg and "block1.0.attn.q.weight: checkpoint (3, 3)" in msg
    with pytest.raises(ValueError, match="not NVlabs MiT keys"):
        nvlabs_mit_to_ours({"decoder.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="not mmseg MiT keys"):
        mmseg_mit_to_nvlabs({"layers.0.3.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="not official DDESeg keys"):
        official_ddeseg_to_ours({"text_encoder.w": torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError, match="unexpected keys"):
        load_state_dict_strict(enc, {**enc.state_dict(), "extra.weight": torch.zeros(1)})


def test_missing_checkpoint_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_encoder_pretrained(_tiny_official_encoder(), tmp_path / "nope.pth")
