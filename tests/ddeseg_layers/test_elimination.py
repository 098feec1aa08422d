"""DynamicElimination (eqs. 13-17): scaling property, score range, determinism, schemes, official parity."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from ddeseg_layers.elimination import SCHEMES, DynamicElimination

_spec = importlib.util.spec_from_file_location(
    "official_oracle", pathlib.Path(__file__).with_name("official_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)
_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)

D, H = 16, 4


def _randomise(module, seed=1, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g))
    return module


def _inputs(n=3, k=5, hw=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, D, generator=g), torch.randn(n, hw, D, generator=g)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_output_is_per_token_scalar_multiple_with_scores_in_unit_interval(scheme):
    dem = _randomise(DynamicElimination(D, num_heads=H, scheme=scheme)).train()
    tokens, visual = _inputs()
    out = dem(tokens, visual)
    s = dem.last_scores
    assert s.shape == (3, 5)
    assert ((s >= 0) & (s <= 1)).all()
    torch.testing.assert_close(out, tokens * s[..., None])  # eq. 17
    ratio = out / tokens  # the same scalar in every channel of a token
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio), rtol=1e-5, atol=1e-5)
    if scheme == "none":
        assert torch.equal(out, tokens)


def test_zero_score_layer_gives_half():
    dem = _randomise(DynamicElimination(D, num_heads=H))
    with torch.no_grad():
        dem.score.weight.zero_()
        dem.score.bias.zero_()
    tokens, visual = _inputs()
    torch.testing.assert_close(dem(tokens, visual), 0.5 * tokens)  # sigmoid(0) = 1/2


def test_eval_is_deterministic_and_training_samples_noise():
    dem = _randomise(DynamicElimination(D, num_heads=H, tau=0.7))
    tokens, visual = _inputs()
    dem.eval()
    torch.manual_seed(0)
    a = dem(tokens, visual)
    torch.manual_seed(1)
    b = dem(tokens, visual)
    assert torch.equal(a, b)
    # eval assignment is the noise-free softmax(V C^T / tau) (eqs. 13-14, "aggregate" centres)
    o = torch.softmax(visual @ dem.centers_v.t() / 0.7, dim=-1)
    expected = (o.transpose(1, 2) @ visual) / o.sum(1)[..., None]
    torch.testing.assert_close(dem.visual_centres(visual), expected)
    dem.train()
    torch.manual_seed(0)
    c = dem(tokens, visual)
    torch.manual_seed(1)
    d = dem(tokens, visual)
    assert not torch.allclose(c, d)
    dem.eval()
    dem.stochastic_eval = True
    torch.manual_seed(1)
    assert torch.equal(dem(tokens, visual), d)  # released behaviour: the same noise in eval


def test_softkmeans_has_no_noise_even_in_training():
    dem = _randomise(DynamicElimination(D, num_heads=H, scheme="softkmeans_ca_fc")).train()
    tokens, visual = _inputs()
    torch.manual_seed(0)
    a = dem(tokens, visual)
    torch.manual_seed(1)
    assert torch.equal(a, dem(tokens, visual))


def test_per_pixel_centres_are_the_literal_eq14():
    dem = _randomise(DynamicElimination(D, num_heads=H, centers="per_pixel")).eval()
    _, visual = _inputs()
    o = torch.softmax(visual @ dem.centers_v.t(), dim=-1)
    torch.testing.assert_close(dem.visual_centres(visual), o @ dem.centers_v)


def test_a_centre_without_pixels_keeps_finite_gradients():
    # eq. 14 divides by 1^T O; a visual centre no pixel is assigned to has a soft mass of e^-87 here, just above
    # fp32's smallest normal number. Floored there, the quotient's gradient (about |V| / mass) overflowed to inf,
    # NaN after the softmax's backward (seen in training as a NaN gradient of the whole encoder at one batch)
    dem = DynamicElimination(D, num_heads=H, num_centers=2, tau=1.0).eval()
    with torch.no_grad():
        dem.centers_v.zero_()
        dem.centers_v[0, 0] = 8.7  # the pixel prefers centre 0 by a logit gap of 87
    visual = torch.zeros(2, 1, D)
    visual[..., 0] = 10.0
    visual[..., 1:] = torch.randn(2, 1, D - 1)
    visual.requires_grad_(True)
    centres = dem.visual_centres(visual)
    mass = torch.softmax(visual.detach() @ dem.centers_v.t(), -1).sum(1)
    assert torch.finfo(torch.float32).tiny < mass[:, 1].min() and mass[:, 1].max() < 1e-37  # the empty centre
    # one pixel: eq. 14's weighted mean is that pixel for both centres, the empty one included
    torch.testing.assert_close(centres, visual.detach().expand(-1, 2, -1))
    centres.square().sum().backward()
    assert torch.isfinite(visual.grad).all() and torch.isfinite(dem.centers_v.grad).all()


@pytest.mark.parametrize("training", [True, False])
def test_aggregate_centres_equal_the_quotient_and_the_noise_of_gumbel_softmax(training):
    from ddeseg_layers.elimination import log_soft_assign, soft_assign

    logits = torch.randn(2, 12, 5, dtype=torch.float64)
    torch.manual_seed(3)
    o = soft_assign(logits, 0.7, gumbel=True, training=training)
    torch.manual_seed(3)
    log_o = log_soft_assign(logits, 0.7, gumbel=True, training=training)
    torch.testing.assert_close(log_o.exp(), o)  # the same Gumbel draws as F.gumbel_softmax
    dem = _randomise(DynamicElimination(D, num_heads=H, tau=0.7)).double().train(training)
    _, visual = _inputs()
    visual = visual.double()
    torch.manual_seed(5)
    centres = dem.visual_centres(visual)
    torch.manual_seed(5)
    o = soft_assign(visual @ dem.centers_v.t(), 0.7, gumbel=True, training=training)
    torch.testing.assert_close(centres, (o.transpose(1, 2) @ visual) / o.sum(1)[..., None])  # eq. 14


def test_uniform_visual_map_scores_depend_on_the_map_not_the_tokens_set():
    # every pixel identical -> every centre equals that pixel -> MCA output is the same for every token
    dem = _randomise(DynamicElimination(D, num_heads=H)).eval()
    tokens, visual = _inputs()
    visual = visual[:, :1].expand(-1, 12, -1).contiguous()
    dem(tokens, visual)
    s = dem.last_scores
    torch.testing.assert_close(s, s[:, :1].expand_as(s))


@pytest.mark.parametrize("scheme", ["ca_fc", "softkmeans_ca_fc", "gs"])
def test_token_permutation_permutes_scores(scheme):
    dem = _randomise(DynamicElimination(D, num_heads=H, scheme=scheme)).eval()
    tokens, visual = _inputs()
    dem(tokens, visual)
    ref = dem.last_scores
    perm = torch.tensor([4, 2, 0, 1, 3])
    dem(tokens[:, perm], visual)
    torch.testing.assert_close(dem.last_scores, ref[:, perm])


def test_visual_input_matters_except_for_fc():
    tokens, visual = _inputs()
    for scheme in ("fc", "ca_fc", "gs"):
        dem = _randomise(DynamicElimination(D, num_heads=H, scheme=scheme)).eval()
        same = torch.allclose(dem(tokens, visual), dem(tokens, visual + 1.0))
        assert same == (scheme == "fc"), scheme


@pytest.mark.parametrize("scheme", SCHEMES[1:])
@pytest.mark.parametrize("variant", ["paper", "official"])
def test_gradients_reach_every_parameter(scheme, variant):
    if variant == "official" and scheme != "gs":
        with pytest.raises(ValueError, match="official"):
            DynamicElimination(D, num_heads=H, scheme=scheme, variant=variant)
        return
    dem = _randomise(DynamicElimination(D, num_heads=H, scheme=scheme, variant=variant)).train()
    tokens, visual = _inputs()
    tokens.requires_grad_(True)
    (dem(tokens, visual) ** 2).sum().backward()
    for name, p in dem.named_parameters():
        if variant == "official" and name.startswith("av_cros_interaction.proj"):
            assert p.grad is None  # defined but never applied in the released code
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_official_variant_matches_oracle_scores():
    dem = _randomise(DynamicElimination(D, num_heads=H, variant="official")).double().eval()
    tokens, visual = (t.double() for t in _inputs())
    out = dem(tokens, visual)
    p = dem.state_dict()
    p.update({f"va_cros_interaction.{k}": v for k, v in dem.av_cros_interaction.state_dict().items()})
    _, sc = oracle.official_aligner(visual, tokens, p, H)
    torch.testing.assert_close(dem.last_scores, sc, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(dem.last_scores.sum(1), torch.ones(3, dtype=torch.float64))  # softmax over K
    torch.testing.assert_close(out, tokens * sc[..., None])


def test_bf16_forward():
    dem = _randomise(DynamicElimination(D, num_heads=H)).eval()
    tokens, visual = _inputs()
    ref = dem(tokens, visual)
    out = dem.to(torch.bfloat16)(tokens.bfloat16(), visual.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="scheme"):
        DynamicElimination(D, scheme="kmeans")
    dem = DynamicElimination(D, num_heads=H)
    with pytest.raises(ValueError, match="visual must be"):
        dem(torch.randn(2, 5, D), torch.randn(3, 4, D))


def test_forward_returns_its_scores_in_the_graph():
    dem = _randomise(DynamicElimination(D, num_heads=H)).eval()
    tokens, visual = torch.randn(2, 4, D, requires_grad=True), torch.randn(2, 9, D)
    out, s = dem(tokens, visual, return_scores=True)
    assert s.shape == (2, 4) and s.requires_grad
    torch.testing.assert_close(out, tokens * s[..., None])
    torch.testing.assert_close(dem.last_scores, s.detach())
    assert torch.equal(dem(tokens, visual), out)


def _fav_cosine_over_tokens(dem, tokens, visual):
    """Mean cosine between the eq. 15 outputs F_av of a frame's K tokens (1: the same F_av for every token)."""
    return U.mean_token_cosine(dem.cross_attn(tokens, dem.visual_centres(visual)))


def test_xavier_init_gives_distinct_tokens_distinct_attention_outputs():
    """init='release' (std 0.02): near-uniform attention, so K distinct tokens get (almost) one F_av and one score;
    init='xavier': the same tokens get distinct F_av. Only the MCA's projections change; the rest stays as release."""
    d = 64
    g = torch.Generator().manual_seed(0)
    tokens, visual = 2.0 * torch.randn(8, 3, d, generator=g), 4.0 * torch.randn(8, 200, d, generator=g)
    torch.manual_seed(0)
    rel = DynamicElimination(d, num_heads=2, num_centers=4).eval()
    torch.manual_seed(0)
    xav = DynamicElimination(d, num_heads=2, num_centers=4, init="xavier").eval()
    assert "init='xavier'" in repr(xav) and "init=" not in repr(rel)
    with torch.no_grad():
        assert _fav_cosine_over_tokens(rel, tokens, visual) > 0.98
        assert _fav_cosine_over_tokens(xav, tokens, visual) < 0.8
    bound = (6.0 / (2 * d)) ** 0.5  # xavier_uniform_ on a d x d weight
    for name in ("q", "k", "v", "proj"):
        w = getattr(xav.cross_attn, name).weight
        assert w.abs().max() <= bound and w.std() > 0.5 * bound / 3**0.5  # uniform(-b, b) has std b / sqrt(3)
        assert getattr(rel.cross_attn, name).weight.std() < 0.03
    torch.testing.assert_close(xav.centers_v, rel.centers_v)  # same seed, same C_v
    torch.testing.assert_close(xav.score.weight, rel.score.weight)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init="kaiming"),
        dict(init="xavier", scheme="fc"),
        dict(init="xavier", scheme="none"),
        dict(init="xavier", variant="official"),
    ],
)
def test_bad_init_raises(kwargs):
    with pytest.raises(ValueError, match="init"):
        DynamicElimination(D, num_heads=H, **kwargs)
