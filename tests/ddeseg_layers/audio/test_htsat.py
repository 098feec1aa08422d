"""HTS-AT: official checkpoint keys (Lightning / clean forms, head policy), front-end geometry, tscam outputs,
freezing and fine-tuning."""

import copy
import json
from pathlib import Path

import pytest
import torch

from ddeseg_layers.audio.frontends import slaney_mel_matrix
from ddeseg_layers.audio.htsat import HTSAT, HTSATBackbone, htsat_config, load_htsat_checkpoint
from ddeseg_layers.checkpoint import CheckpointMismatchError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "keys" / "htsat_audioset.json"


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return HTSAT()


@pytest.fixture(scope="module")
def model71(full_model):
    """The official DDESeg builds a 71-class head that its clean ckpt lacks (a copy with the head swapped)."""
    m = copy.deepcopy(full_model)
    m.tscam_conv = torch.nn.Conv2d(768, 71, kernel_size=(2, 3), padding=(0, 1))
    m.head = torch.nn.Linear(71, 71)
    return m


@pytest.fixture(scope="module")
def published():
    fx = json.loads(FIXTURE.read_text())
    g = torch.Generator().manual_seed(1)
    state = {}
    for k, shape in fx["keys"].items():
        if k.endswith(("relative_position_index", "num_batches_tracked")):
            state[k] = torch.zeros(shape, dtype=torch.long)
        else:
            state[k] = torch.randn(shape, generator=g) * 0.02
    return fx["prefix"], state


def test_lightning_checkpoint_loads_strictly(full_model, published, tmp_path):
    prefix, state = published
    ckpt = {"epoch": 3, "global_step": 10, "state_dict": {prefix + k: v for k, v in state.items()}}
    path = tmp_path / "HTSAT_AudioSet_Saved_1.ckpt"
    torch.save(ckpt, path)
    report = load_htsat_checkpoint(full_model, path)
    assert sorted(report.loaded) == sorted(state) and not report.ignored
    sd = full_model.state_dict()
    for k in ("spectrogram_extractor.stft.conv_real.weight", "logmel_extractor.melW", "tscam_conv.weight",
              "layers.2.blocks.5.attn.relative_position_bias_table", "layers.0.blocks.1.attn_mask"):  # fmt: skip
        torch.testing.assert_close(sd[k], state[k])
    n_learn = sum(p.numel() for p in full_model.parameters() if p.requires_grad)
    n_fixed = sum(p.numel() for p in full_model.parameters() if not p.requires_grad)
    assert n_fixed == 2 * 513 * 1024 + 513 * 64  # STFT kernels + melW stay frozen
    assert 30.0e6 < n_learn < 30.5e6  # field notes: ~30.2 M learnable


def test_clean_ddeseg_form_and_head_policy(published, model71):
    _, state = published
    clean = {k: v for k, v in state.items() if not k.startswith(("tscam_conv", "head"))}
    derived = ("attn_mask", "relative_position_index", "num_batches_tracked")
    clean_min = {k: v for k, v in clean.items() if not k.endswith(derived)}
    model = model71
    report = load_htsat_checkpoint(model, clean_min)
    assert any(k.startswith("tscam_conv") for k in report.missing_allowed)
    torch.testing.assert_close(model.norm.weight, state["norm.weight"])
    # a 527-class head does not fit a 71-class model: "auto" drops it and says so, "load" refuses
    report = load_htsat_checkpoint(model, state, head="auto")
    assert sorted(report.ignored) == ["head.bias", "head.weight", "tscam_conv.bias", "tscam_conv.weight"]
    with pytest.raises(CheckpointMismatchError, match=r"tscam_conv.weight: checkpoint \(527"):
        load_htsat_checkpoint(model, state, head="load")
    with pytest.raises(ValueError, match="no tscam_conv/head"):
        load_htsat_checkpoint(model, clean, head="load")


def test_loader_errors(published, model71):
    prefix, state = published
    model = model71
    broken = dict(state)
    broken.pop("layers.1.blocks.0.mlp.fc1.weight")
    broken["sed_model_extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as err:
        load_htsat_checkpoint(model, broken, head="drop")
    assert "missing keys (1): layers.1.blocks.0.mlp.fc1.weight" in str(err.value)
    assert "unexpected keys (1): sed_model_extra.weight" in str(err.value)
    mixed = {prefix + "norm.weight": state["norm.weight"], "norm.bias": state["norm.bias"]}
    with pytest.raises(ValueError, match="mixes 'sed_model.' keys"):
        load_htsat_checkpoint(model, mixed)
    with pytest.raises(ValueError, match="head must be"):
        load_htsat_checkpoint(model, state, head="keep")


def test_full_size_latent_and_frame_geometry(full_model):
    """32 kHz / hop 320: 10 s -> 1001 frames; official 22.05 kHz / hop 256: 1 s -> 87 frames (field notes 1.10)."""
    m = full_model.eval()
    assert m.log_mel(torch.zeros(1, 320000)).shape == (1, 1, 1001, 64)
    small_swin = dict(embed_dim=8, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
    off = HTSAT(**htsat_config("official", **small_swin))
    assert off.sample_rate == 22050 and off.log_mel(torch.zeros(1, 22050)).shape == (1, 1, 87, 64)
    # the default melW is the AudioSet checkpoint's 32 kHz / 50-14000 Hz matrix in both variants
    torch.testing.assert_close(off.logmel_extractor.melW, slaney_mel_matrix(32000, 1024, 64, 50.0, 14000.0))
    with torch.no_grad():
        out = m(torch.randn(1, 32000) * 0.1)
    assert out["latent_output"].shape == (1, 768)
    assert out["clipwise_output"].shape == (1, 527)
    assert out["framewise_output"].shape == (1, 1024, 527)
    with pytest.raises(ValueError, match="exceed"):
        m.reshape_wav2img(torch.zeros(1, 1, 1025, 64))


def test_reshape_wav2img_folds_time_into_rows():
    m = HTSAT(**htsat_config(size="tiny"))  # spec 64, mel 32 -> freq_ratio 2, 128 frames
    t, f = m.max_frames, m.mel_bins
    x = (torch.arange(t)[:, None] * 1000 + torch.arange(f)[None, :]).float()[None, None]
    img = m.reshape_wav2img(x)
    assert img.shape == (1, 1, 64, 64)
    for k in range(m.freq_ratio):
        for fi in (0, 5, f - 1):
            for c in (0, 17, 63):
                assert img[0, 0, k * f + fi, c] == (k * (t // m.freq_ratio) + c) * 1000 + fi


def test_tiny_outputs_latent_is_token_mean_and_tscam():
    torch.manual_seed(0)
    m = HTSAT(**htsat_config(size="tiny")).eval()
    seen = {}
    m.norm.register_forward_hook(lambda mod, inp, out: seen.__setitem__("tokens", out))
    x = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        out = m(x)
    assert out["latent_output"].shape == (3, 192)
    torch.testing.assert_close(out["latent_output"], seen["tokens"].mean(1))
    assert out["clipwise_output"].shape == (3, 10)
    assert ((out["clipwise_output"] > 0) & (out["clipwise_output"] < 1)).all()
    assert out["framewise_output"].shape == (3, 4 * 32, 10)
    # clipwise = sigmoid(mean_t logit); framewise repeats sigmoid(logit_t) 32 times
    logits = torch.logit(out["framewise_output"][:, ::32], eps=0).transpose(1, 2)
    torch.testing.assert_close(out["clipwise_output"], torch.sigmoid(logits.mean(2)), atol=1e-5, rtol=1e-4)
    # batch independence in eval mode
    with torch.no_grad():
        torch.testing.assert_close(m(x[1:2])["latent_output"], out["latent_output"][1:2], atol=1e-5, rtol=1e-5)


def test_shifted_window_mask_blocks_cross_region_attention():
    m = HTSAT(**htsat_config(size="tiny"))
    blk = m.layers[0].blocks[0] if m.layers[0].blocks[0].shift else None
    assert blk is None  # even blocks are never shifted
    deep = HTSAT(**htsat_config(size="tiny", depths=(2, 1, 1, 1)))
    shifted = deep.layers[0].blocks[1]
    assert shifted.shift == 2 and shifted.attn_mask.shape == (16, 16, 16)
    mask = shifted.attn_mask
    assert torch.all(mask[0] == 0)  # top-left window is one region
    assert set(mask[-1].unique().tolist()) == {-100.0, 0.0}  # bottom-right window mixes 4 regions
    assert torch.equal(mask[-1], mask[-1].T)


def test_frozen_backbone_keeps_eval_and_bn_stats():
    bb = HTSATBackbone(size="tiny")
    assert bb.frozen and bb.out_dim == 192 and bb.sample_rate == 16000
    assert not any(p.requires_grad for p in bb.parameters())
    torch.nn.Sequential(bb).train()
    assert not bb.training
    before = bb.net.bn0.running_mean.clone()
    a = bb(torch.randn(2, 16000))
    torch.testing.assert_close(bb.net.bn0.running_mean, before)
    assert not a.requires_grad


def test_finetune_step_changes_params_but_not_stft():
    torch.manual_seed(0)
    bb = HTSATBackbone(size="tiny", frozen=False).train()
    assert bb.training
    fixed = {n for n, p in bb.named_parameters() if not p.requires_grad}
    assert fixed == {"net.spectrogram_extractor.stft.conv_real.weight",
                     "net.spectrogram_extractor.stft.conv_imag.weight", "net.logmel_extractor.melW"}  # fmt: skip
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-3)
    loss = bb(torch.randn(2, 16000) * 0.1).pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
    opt.step()
    after = bb.state_dict()
    for k in ("net.patch_embed.proj.weight", "net.layers.3.blocks.0.mlp.fc2.weight", "net.norm.weight"):
        assert not torch.equal(after[k], before[k]), k
    for k in fixed:
        assert torch.equal(after[k], before[k])
    assert not torch.equal(after["net.bn0.running_mean"], before["net.bn0.running_mean"])


def test_backbone_loads_checkpoint_and_bad_options():
    src = HTSAT(**htsat_config(size="tiny"))
    ckpt = {"state_dict": {"sed_model." + k: v for k, v in src.state_dict().items()}}
    bb = HTSATBackbone(size="tiny", checkpoint=ckpt)
    torch.testing.assert_close(bb.net.state_dict(), src.state_dict())
    with pytest.raises(ValueError, match="variant"):
        htsat_config("ddeseg")
    with pytest.raises(ValueError, match="multiple of mel_bins"):
        HTSAT(spec_size=100)
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        bb(torch.zeros(16000))
