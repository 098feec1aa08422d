"""DynamicDerivation (eqs. 5-12): literal equation checks, selection invariances, masks, official parity."""

from __future__ import annotations

import importlib.util
import math
import pathlib

import pytest
import torch
import torch.nn.functional as F

from ddeseg_layers.derivation import DynamicDerivation
from ddeseg_layers.memory import SemanticMemory

_spec = importlib.util.spec_from_file_location(
    "official_oracle", pathlib.Path(__file__).with_name("official_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)
_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)

D = 8


def _memory(C=6, R=3, d=D, seed=0, spread=3.0):
    g = torch.Generator().manual_seed(seed)
    bank = torch.randn(C, R, d, generator=g) + spread * torch.randn(C, 1, d, generator=g)
    return SemanticMemory.from_official(bank)


def _randomise(module, seed=1, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g))
    return module


def _literal_paper(fa, mem, ddm):
    """Eqs. 5-12 written out per token and neighbour (loops), independent of edge_aggregate."""
    K = ddm.num_neighbors
    We, be = ddm.edge_fc_s1[0].weight, ddm.edge_fc_s1[0].bias
    wf1 = ddm.fusion_s1.weight[0]
    Wo1, bo1 = ddm.offset_s1[0].weight, ddm.offset_s1[0].bias
    Wd, bd = ddm.edge_fc_s2[0].weight, ddm.edge_fc_s2[0].bias
    wf2 = ddm.fusion_s2.weight[0]
    Wo2, bo2 = ddm.offset_s2[0].weight, ddm.offset_s2[0].bias
    out = []
    for n in range(fa.shape[0]):
        dist = torch.stack([torch.linalg.vector_norm(fa[n] - mem.centroids[c]) for c in range(mem.num_classes)])
        nearest = torch.argsort(dist)[:K]
        e = [F.gelu(We @ (mem.centroids[c] - fa[n]) + be) for c in nearest]  # eq. 5
        w = torch.softmax(torch.stack([wf1 @ ei for ei in e]), 0)  # eq. 6
        toks = []
        for i, c in enumerate(nearest):
            a = fa[n] + torch.tanh(Wo1 @ (fa[n] + w[i] * e[i]) + bo1)  # eqs. 7-8
            reps = mem.reps[c][mem.rep_mask[c]]
            e2 = [F.gelu(Wd @ (x - a) + bd) for x in reps]  # eq. 9
            w2 = torch.softmax(torch.stack([wf2 @ ej for ej in e2]), 0)  # eq. 10
            e2hat = sum(w2[j] * e2[j] for j in range(len(e2)))
            delta = torch.tanh(Wo2 @ e2hat + bo2)  # eq. 11
            toks.append(a * (1 + delta))  # eq. 12
        out.append(torch.stack(toks))
    return torch.stack(out)


def test_paper_matches_literal_equations():
    mem = _memory()
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3)).double()
    mem = mem.double()
    fa = torch.randn(4, D, dtype=torch.float64)
    torch.testing.assert_close(ddm(fa, mem), _literal_paper(fa, mem, ddm), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_zero_weights_give_the_input_token(variant):
    ddm = DynamicDerivation(D, num_neighbors=3, variant=variant)
    with torch.no_grad():
        for p in ddm.parameters():
            p.zero_()
    fa = torch.randn(5, D)
    out = ddm(fa, _memory())
    # paper: tanh(0) = 0 in eqs. 7 and 11 -> a_i = F_a and a^_i = a_i.
    # official: a1 = (1 + 0) F_a, step 3 sums (1 + 0) a1 over the R = 3 entries -> 3 F_a.
    scale = 1.0 if variant == "paper" else 3.0
    torch.testing.assert_close(out, scale * fa[:, None, :].expand(-1, 3, -1))


def test_clearly_nearest_class_and_absent_class_never_selected():
    mem = _memory(C=5)
    fa = mem.centroids[3].clone()[None] + 1e-3
    ddm = DynamicDerivation(D, num_neighbors=2)
    ddm(fa, mem)
    assert ddm.last_indices[0, 0].item() == 3
    mem.class_mask[3] = False  # absent: must never be selected even when it is the closest
    ddm(fa, mem)
    assert 3 not in ddm.last_indices[0].tolist()


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_permuting_memory_classes_changes_nothing(variant):
    mem = _memory(C=7)
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3, variant=variant))
    fa = torch.randn(4, D)
    ref = ddm(fa, mem)
    idx = ddm.last_indices.clone()
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(5))
    pm = SemanticMemory.from_official(mem.reps[perm])
    out = ddm(fa, pm)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    assert torch.equal(perm[ddm.last_indices], idx)


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_classes_outside_the_k_nearest_do_not_matter(variant):
    mem = _memory(C=8)
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3, variant=variant))
    fa = torch.randn(2, D)
    ref = ddm(fa, mem)
    chosen = set(ddm.last_indices.flatten().tolist())
    reps = mem.reps.clone()
    for c in range(8):
        if c not in chosen:
            reps[c] = reps[c] * 1.5 + 100.0  # moved further away, contents changed
    out = ddm(fa, SemanticMemory.from_official(reps))
    torch.testing.assert_close(out, ref)


def test_masked_rep_slots_get_zero_weight():
    mem = _memory(C=4, R=2)
    ddm = _randomise(DynamicDerivation(D, num_neighbors=2))
    fa = torch.randn(3, D)
    ref = ddm(fa, mem)
    # same memory with two padded slots per class holding garbage, marked invalid
    padded = SemanticMemory(4, 4, D)
    padded.centroids.copy_(mem.centroids)
    padded.reps[:, :2] = mem.reps
    padded.reps[:, 2:] = 50.0
    padded.rep_mask[:, :2] = True
    padded.class_mask.fill_(True)
    torch.testing.assert_close(ddm(fa, padded), ref)
    official = _randomise(DynamicDerivation(D, num_neighbors=2, variant="official"))
    torch.testing.assert_close(official(fa, padded), official(fa, mem))


def test_step3_off_equals_zero_step3_offset_and_disabled_repeats_input():
    mem = _memory()
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3))
    fa = torch.randn(3, D)
    no3 = DynamicDerivation(D, num_neighbors=3, step3=False)
    no3.load_state_dict(ddm.state_dict())
    with torch.no_grad():
        ddm.offset_s2[0].weight.zero_()
        ddm.offset_s2[0].bias.zero_()
    torch.testing.assert_close(no3(fa, mem), ddm(fa, mem))  # eq. 12 with Delta = 0 is eq. 8
    off = DynamicDerivation(D, num_neighbors=3, enabled=False)
    assert torch.equal(off(fa, mem), fa[:, None].expand(-1, 3, -1)) and off.last_indices is None


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_diagnostic_token_sources_use_the_same_selection(variant):
    mem = _memory()
    fa = torch.randn(4, D)
    derived = _randomise(DynamicDerivation(D, num_neighbors=3, variant=variant))
    derived(fa, mem)
    idx = derived.last_indices
    mu = mem.centroids[idx]  # [N, K, d], nearest first
    for source, expected in (
        ("centroids", mu),
        ("audio_plus_centroids", fa[:, None] + mu),
        ("audio_and_centroids", torch.cat([fa[:, None], mu[:, :2]], 1)),
    ):
        ddm = DynamicDerivation(D, num_neighbors=3, variant=variant, tokens=source)
        ddm.load_state_dict(derived.state_dict())  # same parameters and checkpoint keys as the derived module
        out = ddm(fa, mem)
        assert torch.equal(ddm.last_indices, idx)
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
        assert source in repr(ddm)
    # the centroid sources hold K distinct tokens whatever F_a is; the nearest centroid comes first
    near = torch.cdist(fa, mem.centroids).argmin(1)
    assert torch.equal(idx[:, 0], near)
    with pytest.raises(ValueError, match="tokens must be one of"):
        DynamicDerivation(D, tokens="oracle")


def test_identity_init_starts_near_fa_plus_tanh_of_the_larger_of_centroid_and_fa():
    mem = _memory(spread=1.0).double()
    fa = torch.randn(5, D, dtype=torch.float64)
    K = 3
    ddm = DynamicDerivation(D, num_neighbors=K, init="identity", step3=False).double()
    assert "init='identity'" in repr(ddm)
    a = ddm(fa, mem)
    mu = mem.centroids[ddm.last_indices]  # [N, K, d]
    # eqs. 5-8 at this init, written out: W_e = K I, W_f1 = 0 (w_i = 1/K), W_o1 = I, zero biases
    expected = fa[:, None] + torch.tanh(fa[:, None] + F.gelu(K * (mu - fa[:, None])) / K)
    torch.testing.assert_close(a, expected, rtol=1e-12, atol=1e-12)
    # tokens of one frame differ where their centroids differ; the release init starts them (almost) equal
    release = DynamicDerivation(D, num_neighbors=K, step3=False).double()
    assert U.mean_token_cosine(a) < 0.99 < U.mean_token_cosine(release(fa, mem))
    # step 3 keeps the release initialisation: identical to a release module given the same step-2 weights
    full = DynamicDerivation(D, num_neighbors=K, init="identity").double()
    assert torch.equal(full.edge_fc_s1[0].weight, K * torch.eye(D, dtype=torch.float64))
    assert not torch.equal(full.offset_s2[0].weight, torch.zeros_like(full.offset_s2[0].weight))
    full.reset_parameters()  # re-applies the identity step 2
    assert torch.equal(full.offset_s1[0].weight, torch.eye(D, dtype=torch.float64))
    with pytest.raises(ValueError, match="init must be one of"):
        DynamicDerivation(D, init="orthogonal")
    with pytest.raises(ValueError, match="variant='paper'"):
        DynamicDerivation(D, init="identity", variant="official")


def test_rep_gate_init_gates_channels_by_the_selected_class_reps():
    mem = _memory(spread=1.0).double()
    assert bool(mem.rep_mask.all())
    fa = torch.randn(5, D, dtype=torch.float64)
    K = 3
    ddm = DynamicDerivation(D, num_neighbors=K, init="rep_gate").double()
    with torch.no_grad():  # step 2 to zero so a_i = F_a (eq. 8 with tanh(0) = 0)
        for m in (ddm.edge_fc_s1[0], ddm.offset_s1[0], ddm.fusion_s1):
            m.weight.zero_()
    out = ddm(fa, mem)
    x = mem.reps[ddm.last_indices]  # [N, K, R, d]
    gate = 1 + torch.tanh(F.gelu(x - fa[:, None, None]).mean(2) - 1)  # eqs. 9-12 at this init, written out
    torch.testing.assert_close(out, fa[:, None] * gate, rtol=1e-12, atol=1e-12)
    assert bool((gate > 1 + math.tanh(-1.18)).all()) and bool((gate < 2).all())  # GELU >= -0.17
    # the tokens of a frame start apart (a release step 3 keeps them at F_a: cosine 1)
    assert U.mean_token_cosine(out) < 0.99
    with pytest.raises(ValueError, match="variant='paper'"):
        DynamicDerivation(D, init="rep_gate", variant="official")


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_gradients_reach_every_parameter(variant):
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3, variant=variant))
    fa = torch.randn(4, D, requires_grad=True)
    (ddm(fa, _memory()) ** 2).sum().backward()
    for name, p in ddm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert fa.grad.abs().sum() > 0


def test_official_matches_oracle_on_random_weights():
    mem = _memory(C=9, R=5)
    ddm = _randomise(DynamicDerivation(D, num_neighbors=4, variant="official")).double()
    p = {k: v for k, v in ddm.state_dict().items()}
    fa = torch.randn(6, D, dtype=torch.float64)
    bank = mem.reps.double()
    mem = SemanticMemory.from_official(bank, dtype=torch.float64)
    s1, s2, idx = oracle.official_ddm(fa, bank, p, 4)
    out = ddm(fa, mem)
    assert torch.equal(ddm.last_indices, idx)
    torch.testing.assert_close(out, s2, rtol=1e-10, atol=1e-10)
    ddm.step3 = False
    torch.testing.assert_close(ddm(fa, mem), s1, rtol=1e-10, atol=1e-10)


def test_official_names_and_parameter_count():
    ddm = DynamicDerivation(768, num_neighbors=5, variant="official")
    names = {k: tuple(v.shape) for k, v in ddm.state_dict().items()}
    expected = {}
    for s in ("s1", "s2"):
        expected.update({f"edge_fc_{s}.0.weight": (768, 768), f"edge_fc_{s}.0.bias": (768,)})
        expected.update({f"offset_{s}.0.weight": (768, 768), f"offset_{s}.0.bias": (768,)})
        expected[f"fusion_{s}.weight"] = (768, 768)
    assert names == expected
    assert sum(p.numel() for p in ddm.parameters()) == 3_542_016
    paper = DynamicDerivation(768, num_neighbors=5)
    assert tuple(paper.fusion_s1.weight.shape) == (1, 768)  # W_f1 in R^{1 x d}


def test_bf16_forward():
    mem = _memory()
    ddm = _randomise(DynamicDerivation(D, num_neighbors=3))
    fa = torch.randn(3, D)
    ref = ddm(fa, mem)
    out = ddm.to(torch.bfloat16)(fa.bfloat16(), mem)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_bad_inputs_raise():
    mem = _memory(C=3)
    with pytest.raises(ValueError, match="only 3 present"):
        DynamicDerivation(D, num_neighbors=4)(torch.randn(1, D), mem)
    with pytest.raises(ValueError, match="memory dim 8 does not match module dim 4"):
        DynamicDerivation(4, num_neighbors=2)(torch.randn(1, 4), mem)
    with pytest.raises(ValueError, match="variant"):
        DynamicDerivation(D, variant="nope")


def test_state_dict_round_trip_includes_the_memory():
    class Holder(torch.nn.Module):
        def __init__(self, memory):
            super().__init__()
            self.memory = memory
            self.ddm = DynamicDerivation(D, num_neighbors=3)

        def forward(self, fa):
            return self.ddm(fa, self.memory)

    src = Holder(_memory(C=5, R=4))
    _randomise(src.ddm)
    sd = src.state_dict()
    assert {"memory.centroids", "memory.reps", "memory.rep_mask", "memory.class_mask"} <= set(sd)
    dst = Holder(SemanticMemory.empty(5, 4, D))
    dst.load_state_dict(sd)
    assert dst.memory.present_count == 5  # cached summary refreshed by the load hook
    fa = torch.randn(3, D)
    torch.testing.assert_close(dst(fa), src(fa), rtol=0, atol=0)
