"""AudioQueryFusionBlock (Fig. 4) and OfficialAVAligner (field notes §1.5); one torch.compile smoke test."""

from __future__ import annotations

import functools
import importlib.util
import pathlib

import pytest
import torch
from timm.models.pvt_v2 import Block as TimmPvtBlock

from ddeseg_layers.derivation import DynamicDerivation
from ddeseg_layers.elimination import DynamicElimination
from ddeseg_layers.fusion import AudioQueryFusionBlock, OfficialAVAligner
from ddeseg_layers.memory import SemanticMemory

_spec = importlib.util.spec_from_file_location(
    "official_oracle", pathlib.Path(__file__).with_name("official_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

D, HEADS, HW = 16, 2, (4, 6)

NVLABS_KEYS = {
    "norm1.weight", "norm1.bias", "attn.q.weight", "attn.q.bias", "attn.kv.weight", "attn.kv.bias",
    "attn.sr.weight", "attn.sr.bias", "attn.norm.weight", "attn.norm.bias", "attn.proj.weight", "attn.proj.bias",
    "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.dwconv.dwconv.weight",
    "mlp.dwconv.dwconv.bias", "mlp.fc2.weight", "mlp.fc2.bias",
}  # fmt: skip


def _randomise(module, seed=1, std=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))
    return module


def _inputs(n=2, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, HW[0] * HW[1], D, generator=g), torch.randn(n, k, D, generator=g)


def test_mit_keys_and_no_audio_equals_a_pretrained_mit_block():
    blk = _randomise(AudioQueryFusionBlock(D, HEADS, sr_ratio=2)).eval()
    keys = set(blk.state_dict())
    assert NVLABS_KEYS <= keys
    assert all(k.split(".")[0] in {"norm_audio", "cross_attn", "norm_tokens"} for k in keys - NVLABS_KEYS)
    ref = TimmPvtBlock(D, HEADS, mlp_ratio=4.0, sr_ratio=2, qkv_bias=True, norm_layer=functools.partial(
        torch.nn.LayerNorm, eps=1e-6)).eval()  # fmt: skip
    sd = {k.replace("mlp.dwconv.dwconv", "mlp.dwconv"): v for k, v in blk.state_dict().items() if k in NVLABS_KEYS}
    ref.load_state_dict(sd, strict=True)
    visual, tokens = _inputs()
    torch.testing.assert_close(blk(visual, HW, tokens[:, :0]), ref(visual, list(HW)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(blk(visual, HW, None), ref(visual, list(HW)), rtol=1e-5, atol=1e-5)
    # with audio tokens the output changes: the pixels read the audio
    assert not torch.allclose(blk(visual, HW, tokens), ref(visual, list(HW)), atol=1e-3)


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_audio_token_order_does_not_matter(sr_ratio):
    blk = _randomise(AudioQueryFusionBlock(D, HEADS, sr_ratio=sr_ratio)).eval()
    visual, tokens = _inputs(k=4)
    out = blk(visual, HW, tokens)
    torch.testing.assert_close(blk(visual, HW, tokens[:, [2, 0, 3, 1]]), out, rtol=1e-5, atol=1e-5)
    _, refreshed = blk(visual, HW, tokens, return_tokens=True)
    assert refreshed.shape == tokens.shape and not torch.allclose(refreshed, tokens)


def test_fusion_block_gradients_reach_every_parameter():
    blk = _randomise(AudioQueryFusionBlock(D, HEADS, sr_ratio=2)).train()
    visual, tokens = _inputs()
    tokens.requires_grad_(True)
    (blk(visual, HW, tokens) ** 2).sum().backward()
    for name, p in blk.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert tokens.grad.abs().sum() > 0


def test_fusion_block_bf16_and_bad_shapes():
    blk = _randomise(AudioQueryFusionBlock(D, HEADS, sr_ratio=2)).eval()
    visual, tokens = _inputs()
    ref = blk(visual, HW, tokens)
    out = blk.to(torch.bfloat16)(visual.bfloat16(), HW, tokens.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.1, atol=0.1)
    with pytest.raises(ValueError, match="H\\*W=24"):
        blk(visual[:, :20].bfloat16(), HW, tokens.bfloat16())


def _oracle_params(al):
    return {k: v for k, v in al.state_dict().items()}


def test_official_aligner_matches_oracle_deterministic_and_released_noise():
    C = 32
    al = _randomise(OfficialAVAligner(C, num_heads=8, num_clusters=5)).double().eval()
    g = torch.Generator().manual_seed(3)
    visual = torch.randn(2, 20, C, generator=g, dtype=torch.float64)
    tokens = torch.randn(2, 5, C, generator=g, dtype=torch.float64)
    ref, sc = oracle.official_aligner(visual, tokens, _oracle_params(al), 8)
    torch.testing.assert_close(al(visual, tokens), ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(al.last_scores, sc, rtol=1e-10, atol=1e-10)
    # stochastic_eval=True: the released behaviour, noise g = -log(Exp(1)) as F.gumbel_softmax draws it
    al.gumbel_clustering.stochastic_eval = True
    torch.manual_seed(11)
    out = al(visual, tokens)
    torch.manual_seed(11)
    noise = -torch.empty(2, 20, 5, dtype=torch.float64).exponential_().log()
    ref_noisy, _ = oracle.official_aligner(visual, tokens, _oracle_params(al), 8, gumbel=noise)
    torch.testing.assert_close(out, ref_noisy, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(out, ref)


def test_official_aligner_names_and_parameter_count():
    for C in (64, 96):
        al = OfficialAVAligner(C)
        assert sum(p.numel() for p in al.parameters()) == 8 * C * C + 10 * C + 1
    names = set(OfficialAVAligner(64).state_dict())
    expected = {"fc.weight", "fc.bias", "layer_norm.weight", "layer_norm.bias", "gumbel_clustering.cluster_centers"}
    for side in ("av_cros_interaction", "va_cros_interaction"):
        expected |= {f"{side}.{p}.weight" for p in ("q_proj", "k_proj", "v_proj", "proj")} | {f"{side}.proj.bias"}
    assert names == expected


def test_official_aligner_eval_deterministic_and_bf16():
    al = _randomise(OfficialAVAligner(D, num_heads=4)).eval()
    visual, tokens = _inputs()
    torch.manual_seed(0)
    a = al(visual, tokens)
    torch.manual_seed(1)
    assert torch.equal(a, al(visual, tokens))
    out = al.to(torch.bfloat16)(visual.bfloat16(), tokens.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), a, rtol=0.1, atol=0.1)


def _compile_and_compare(backend, with_derivation):
    torch._dynamo.reset()
    mem = SemanticMemory.from_official(torch.randn(6, 3, D))
    ddm = DynamicDerivation(D, num_neighbors=3)
    dem = DynamicElimination(D, num_heads=HEADS, num_centers=3).eval()
    blk = AudioQueryFusionBlock(D, HEADS, sr_ratio=2).eval()
    audio = torch.randn(2, D)
    visual, tokens = _inputs()

    def pipeline(x, visual):
        tokens = ddm(x, mem) if with_derivation else x
        return blk(visual, HW, dem(tokens, visual))

    x = audio if with_derivation else tokens
    compiled = torch.compile(pipeline, backend=backend)
    torch.testing.assert_close(compiled(x, visual), pipeline(x, visual), rtol=1e-4, atol=1e-4)


def test_torch_compile_smoke():
    """Dynamo + AOTAutograd trace of DEM -> fusion block (no C++ codegen, so it stays short on CPU)."""
    _compile_and_compare("aot_eager", with_derivation=False)


@pytest.mark.slow
def test_torch_compile_inductor_full_pipeline():
    """Memory -> DDM -> DEM -> fusion block through inductor on CPU (minutes on 2 busy cores)."""
    _compile_and_compare("inductor", with_derivation=True)


def test_drop_path_only_in_training():
    blk = _randomise(AudioQueryFusionBlock(D, HEADS, sr_ratio=2, drop_path=0.5))
    visual, tokens = _inputs(n=8)
    blk.eval()
    ref = blk(visual, HW, tokens)
    assert torch.equal(ref, blk(visual, HW, tokens))
    blk.train()
    torch.manual_seed(0)
    out = blk(visual, HW, tokens)
    same = [torch.allclose(out[i], ref[i]) for i in range(8)]
    assert not all(same)  # some samples had a residual branch dropped
