"""DDESeg end to end: config handling, shapes, training step, memory, ablation switches, official parameter count."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from ddeseg_layers.model import DDESeg, DDESegConfig, build_ddeseg, preset_config

_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)


def _model(**overrides) -> DDESeg:
    torch.manual_seed(0)
    m = build_ddeseg(U.tiny_cfg(**overrides))
    m.set_memory(U.tiny_memory())
    return m


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"variant": "official", "elimination": {}, "encoder": dict(U.TINY_GEOMETRY, embed_dims=(16, 16, 32, 32))},
        {"encoder": dict(U.TINY_GEOMETRY, type="pvt")},
    ],
    ids=["paper", "official", "pvt"],
)
def test_training_step_finite_loss_and_gradients_reach_all_trainable_params(overrides):
    if overrides.get("variant") == "official":
        overrides["encoder"] = dict(U.TINY_GEOMETRY)
    m = _model(**overrides).train()
    img, audio = torch.randn(2, 3, 64, 64), torch.randn(2, 32)
    target = torch.randint(0, 4, (2, 64, 64))
    logits = m(img, audio)
    assert logits.shape == (2, 4, 64, 64)
    loss = torch.nn.functional.cross_entropy(logits, target)
    assert torch.isfinite(loss)
    loss.backward()
    # the released aligner defines `layer_norm` and `*_cros_interaction.proj` but never applies them (field notes 1.5)
    unused = (".layer_norm.", "_cros_interaction.proj.") if overrides.get("variant") == "official" else ()
    bad = [
        n
        for n, p in m.named_parameters()
        if p.requires_grad and not any(u in n for u in unused) and (p.grad is None or not torch.isfinite(p.grad).all())
    ]
    assert not bad
    if unused:
        assert all(p.grad is None for n, p in m.named_parameters() if any(u in n for u in unused))
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
    before = m.head.linear_pred.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, m.head.linear_pred.weight)


def test_scores_memory_and_audio_features():
    m = _model().eval()
    with torch.no_grad():
        m(torch.randn(3, 3, 32, 48), torch.randn(3, 32))
    assert len(m.last_scores) == 3 and all(s.shape == (3, 2) for s in m.last_scores)
    assert all(((s >= 0) & (s <= 1)).all() for s in m.last_scores)
    assert m.extract_audio_features(torch.ones(1, 32)).shape == (1, 32)
    assert any(k.startswith("memory.reps") for k in m.state_dict())
    with pytest.raises(ValueError, match="memory has 5 classes"):
        m.set_memory(U.tiny_memory(num_classes=5))
    with pytest.raises(ValueError, match="memory dim 16"):
        m.set_memory(U.tiny_memory(dim=16))
    with pytest.raises(ValueError, match="2 images but 3 audio"):
        m(torch.randn(2, 3, 32, 32), torch.randn(3, 32))


def test_binary_output_and_official_upsampling_corners():
    m = _model(num_classes=1)
    assert m(torch.randn(1, 3, 32, 32), torch.randn(1, 32)).shape == (1, 1, 32, 32)
    off = build_ddeseg(U.tiny_cfg(variant="official", elimination={}))
    assert off.align_corners and not m.align_corners
    assert off.head.linear_fuse.bn.eps == 1e-3 and off.encoder.geometry.strides == (2, 2, 2, 2)
    assert off.encoder.geometry.norm_eps == 1e-5


def test_ablation_switches_pass_through():
    m = _model(derivation=dict(num_neighbors=2, enabled=False, step3=False), elimination=dict(enabled=False))
    assert not m.derivation.enabled and not m.derivation.step3
    assert all(d.scheme == "none" for d in m.encoder.dems.values())
    assert sum(p.numel() for p in m.encoder.dems.parameters()) == 0
    m.eval()
    with torch.no_grad():
        m(torch.randn(1, 3, 32, 32), torch.randn(1, 32))
    assert all(torch.equal(s, torch.ones(1, 2)) for s in m.last_scores)
    m2 = _model(elimination=dict(num_heads=2, num_centers=3, scheme="ca_fc"))
    assert all(d.scheme == "ca_fc" for d in m2.encoder.dems.values())


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown DDESeg config keys"):
        DDESegConfig.from_dict({"num_class": 3})
    with pytest.raises(ValueError, match="variant"):
        build_ddeseg(U.tiny_cfg(variant="v2"))
    with pytest.raises(ValueError, match="memory.num_classes"):
        build_ddeseg(U.tiny_cfg(num_classes=1, memory=dict(num_reps=3)))
    with pytest.raises(ValueError, match="memory.dim"):
        build_ddeseg(U.tiny_cfg(memory=dict(num_classes=4, dim=7)))
    with pytest.raises(ValueError, match="unknown DDESeg preset"):
        build_ddeseg("mit_b7")
    with pytest.raises(ValueError, match="pretrained"):
        build_ddeseg(U.tiny_cfg(pretrained=dict(weights="x.pth")))


def test_pretrained_encoder_and_memory_files(tmp_path):
    from ddeseg_layers.converters import ours_to_nvlabs_mit

    src = _model()
    path = tmp_path / "mit.pth"
    torch.save(ours_to_nvlabs_mit(src.encoder.state_dict()), path)
    mem_path = tmp_path / "bank.npy"
    import numpy as np

    np.save(mem_path, torch.randn(4, 6, 32).numpy())
    m = build_ddeseg(
        U.tiny_cfg(memory=dict(num_classes=4, num_reps=6), pretrained=dict(encoder=str(path), memory=str(mem_path)))
    )
    torch.testing.assert_close(m.encoder.block2[1].attn.q.weight, src.encoder.block2[1].attn.q.weight)
    assert m.memory.num_reps == 6 and m.memory.class_mask.all()


def test_official_trainable_parameter_count_is_103_88m():
    cfg = preset_config("official")
    cfg["audio"] = dict(type="precomputed", dim=768)  # HTSAT is frozen: 0 trainable parameters either way
    with torch.device("meta"):
        m = build_ddeseg(cfg)
    groups = {k: sum(p.numel() for _, p in v if p.requires_grad) for k, v in m.param_groups().items()}
    total = sum(groups.values())
    assert f"{total / 1e6:.2f}M" == "103.88M"
    assert f"{groups['visual encoder'] / 1e6:.2f}" == "81.44"
    assert f"{(groups['fusion/aligners'] + groups['audio projections']) / 1e6:.2f}" == "15.69"
    assert f"{groups['DDM'] / 1e6:.2f}" == "3.54" and f"{groups['head'] / 1e6:.2f}" == "3.20"


def test_b1_size_model_forward_224():
    cfg = dict(
        num_classes=71,
        encoder="mit_b1",
        audio=dict(type="precomputed", dim=128),
        memory=dict(num_classes=71, num_reps=5),
    )
    torch.manual_seed(0)
    m = build_ddeseg(cfg).eval()
    from ddeseg_layers.memory import SemanticMemory

    m.set_memory(SemanticMemory.from_official(torch.randn(71, 5, 128)))
    with torch.no_grad():
        out = m(torch.randn(1, 3, 224, 224), torch.randn(1, 128))
    assert out.shape == (1, 71, 224, 224) and torch.isfinite(out).all()


@pytest.mark.slow
def test_paper_model_mit_b5_htsat_forward_224():
    from ddeseg_layers.memory import SemanticMemory

    m = build_ddeseg("paper-mit_b5-htsat").eval()
    m.set_memory(SemanticMemory.from_official(torch.randn(71, 5, 768)))
    with torch.no_grad():
        out = m(torch.randn(1, 3, 224, 224), torch.randn(1, m.audio.sample_rate))
    assert out.shape == (1, 71, 224, 224) and torch.isfinite(out).all()
    assert [tuple(s.shape) for s in m.last_scores] == [(1, 5)] * 3


@pytest.mark.slow
def test_official_preset_with_htsat_trainable_count():
    m = build_ddeseg("official")
    n = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert f"{n / 1e6:.2f}M" == "103.88M"


def test_count_params_tool_reads_plain_python_config(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "count_params", pathlib.Path(__file__).parents[2] / "tools" / "count_params.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(f"model = dict(type='AVSSegmentor', net={U.tiny_cfg()!r})\n")
    tool.main([str(cfg_file)])
    out = capsys.readouterr().out
    expected = sum(p.numel() for p in build_ddeseg(U.tiny_cfg()).parameters())
    assert f"{expected:,}" in out.splitlines()[-1] and "DEM" in out
    with pytest.raises(SystemExit, match="no DDESeg config dict"):
        tool.main([str(cfg_file), "--key", "model.missing"])
