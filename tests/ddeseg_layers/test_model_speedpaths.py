"""The training step's fast paths compute what the literal formulas compute (issue 15).

* fused SegFormer head (``fused=True``, what DDESeg builds) = the literal concatenation head: values, gradients and
  BatchNorm running statistics;
* the official aligner's factorised interactions (sigmoid attention with W_q folded into the keys; softmax
  attention over the assignment instead of the per-pixel centres) = the literal attention, values and gradients;
* the Mix-FFN's depth-wise conv + GELU + fc2 autograd function (keeps only the fc1 output) = the plain modules, and
  so does the LayerNorm + fc1 function ahead of it (keeps the un-normalised tokens), and the LayerNorm + q +
  spatial-reduction function ahead of the attention;
* the head's BatchNorm + ReLU + Dropout2d + linear_pred function = the modules, in every BatchNorm / dropout mode;
* the spatial reduction as a patch GEMM = the strided convolution (and the fallback when R does not divide H, W);
* encoder token <-> map conversions are views (channels_last), no copies;
* activation checkpointing (``checkpoint_stages``) changes neither the loss nor the gradients;
* HTS-AT window attention through SDPA (bias and shift mask as a float mask) = the literal softmax;
* ``torch.compile``: ``torch._dynamo.explain`` finds no graph break in the tiny presets' training forward.

Float64 throughout, tolerances (the fast paths reorder sums).
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch

from ddeseg_layers.attention import merge_heads, split_heads
from ddeseg_layers.elimination import OfficialCrossModalInteraction, OfficialGumbelClustering
from ddeseg_layers.head import SegFormerHead
from ddeseg_layers.mit_blocks import EfficientSelfAttention, MixFFN, tokens_to_map
from ddeseg_layers.model import build_ddeseg

_spec = importlib.util.spec_from_file_location("_network_utils", pathlib.Path(__file__).with_name("_network_utils.py"))
U = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(U)

F64 = torch.float64


def _literal_interaction(ci: OfficialCrossModalInteraction, query, context, mode):
    h = ci.num_heads
    q, k, v = (split_heads(f(x), h) for f, x in ((ci.q_proj, query), (ci.k_proj, context), (ci.v_proj, context)))
    a = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    a = torch.sigmoid(a) if mode == "sigmoid" else torch.softmax(a, dim=-1)
    return merge_heads(a @ v)


def _grads(out, params):
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    return torch.autograd.grad((out * w).sum(), params)


def _close(a, b, rtol=1e-9, atol=1e-11):
    # atol: gradients that vanish analytically (e.g. of the biases ahead of a training-mode BatchNorm) are rounding
    assert (a - b).abs().max().item() <= rtol * b.abs().max().item() + atol


@pytest.mark.parametrize("keys", [1, 3, 12])
def test_sigmoid_interaction_equals_literal_attention(keys):
    torch.manual_seed(0)
    ci = OfficialCrossModalInteraction(32, num_heads=4).to(F64)
    with torch.no_grad():
        for lin in (ci.q_proj, ci.k_proj, ci.v_proj):
            lin.weight.mul_(20)  # out of the near-linear sigmoid regime of the 0.02 init
    x = torch.randn(2, 50, 32, dtype=F64, requires_grad=True)
    ctx = torch.randn(2, keys, 32, dtype=F64, requires_grad=True)
    params = [x, ctx, ci.q_proj.weight, ci.k_proj.weight, ci.v_proj.weight]
    fast, ref = ci(x, ctx, "sigmoid"), _literal_interaction(ci, x, ctx, "sigmoid")
    _close(fast, ref)
    for a, b in zip(_grads(fast, params), _grads(ref, params)):
        _close(a, b)


def test_softmax_over_assigned_centres_equals_attention_on_per_pixel_centres():
    torch.manual_seed(0)
    ci = OfficialCrossModalInteraction(32, num_heads=4).to(F64)
    cl = OfficialGumbelClustering(5, 32, stochastic_eval=False).to(F64).eval()
    with torch.no_grad():
        for lin in (ci.q_proj, ci.k_proj, ci.v_proj):
            lin.weight.mul_(20)
    visual = torch.randn(2, 60, 32, dtype=F64, requires_grad=True)
    tokens = torch.randn(2, 5, 32, dtype=F64, requires_grad=True)
    params = [visual, tokens, cl.cluster_centers, ci.q_proj.weight, ci.k_proj.weight, ci.v_proj.weight]
    fast = ci.softmax_over_assigned_centres(tokens, cl.assign(visual), cl.cluster_centers)
    ref = _literal_interaction(ci, tokens, cl(visual), "softmax")
    _close(fast, ref)
    for a, b in zip(_grads(fast, params), _grads(ref, params)):
        _close(a, b)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_head_equals_literal_head(channels_last):
    torch.manual_seed(0)
    dims = (8, 16, 24, 32)
    lit = SegFormerHead(dims, 5, embed_dim=12).to(F64).train()
    fused = SegFormerHead(dims, 5, embed_dim=12, fused=True).to(F64).train()
    fused.load_state_dict(lit.state_dict())
    with torch.no_grad():
        for p in lit.parameters():  # non-zero biases / affine terms, so every term of the identity is exercised
            p.add_(0.1 * torch.randn_like(p))
        fused.load_state_dict(lit.state_dict())
    feats = [torch.randn(2, c, 16 // 2**i, 12 // 2**i, dtype=F64) for i, c in enumerate(dims)]
    if channels_last:
        feats = [f.contiguous(memory_format=torch.channels_last) for f in feats]
    feats = [f.requires_grad_() for f in feats]
    torch.manual_seed(1)  # the same Dropout2d mask
    y_lit = lit(feats)
    torch.manual_seed(1)
    y_fused = fused(feats)
    assert y_fused.shape == y_lit.shape == (2, 5, 16, 12) and y_fused.is_contiguous()
    _close(y_fused, y_lit)
    for a, b in zip(_grads(y_fused, list(fused.parameters()) + feats), _grads(y_lit, list(lit.parameters()) + feats)):
        _close(a, b)
    _close(fused.linear_fuse.bn.running_mean, lit.linear_fuse.bn.running_mean)
    _close(fused.linear_fuse.bn.running_var, lit.linear_fuse.bn.running_var)


@pytest.mark.parametrize(
    "case", ["eval", "frozen_bn", "momentum_none", "no_affine", "no_dropout", "dropout_all", "two_steps"]
)
def test_fused_head_tail_matches_the_modules_in_every_mode(case):
    """BatchNorm -> ReLU -> Dropout2d -> linear_pred as one function (dropout folded into the weight, the bias
    cancelled by training-mode BatchNorm, the rectified map recomputed in backward) against the literal head in the
    modes a user can put the modules in: values, gradients (bias included), running statistics, batch counter."""
    torch.manual_seed(0)
    dims = (8, 16, 24, 32)
    kw = dict(embed_dim=12, dropout={"no_dropout": 0.0, "dropout_all": 1.0}.get(case, 0.5))
    lit = SegFormerHead(dims, 5, **kw)
    fused = SegFormerHead(dims, 5, fused=True, **kw)
    for head in (lit, fused):
        if case == "no_affine":
            head.linear_fuse.bn = torch.nn.BatchNorm2d(12, affine=False)
        if case == "momentum_none":
            head.linear_fuse.bn.momentum = None
        head.to(F64).train()
        if case == "eval":
            head.eval()
        if case == "frozen_bn":
            head.linear_fuse.bn.eval()  # BatchNorm on its running statistics inside a training head
    with torch.no_grad():
        for p in lit.parameters():
            p.add_(0.1 * torch.randn_like(p))
        lit.linear_fuse.bn.running_mean.add_(0.3 * torch.randn(12, dtype=F64))
        lit.linear_fuse.bn.running_var.mul_(1.5)
    fused.load_state_dict(lit.state_dict())
    feats = [
        torch.randn(3, c, 10 // 2**i, 14 // 2**i, dtype=F64)
        .contiguous(memory_format=torch.channels_last)
        .requires_grad_()
        for i, c in enumerate(dims)
    ]
    for step in range(2 if case == "two_steps" else 1):
        torch.manual_seed(10 + step)  # the same Dropout2d mask on both sides
        y_lit = lit(feats)
        state_lit = torch.get_rng_state()
        torch.manual_seed(10 + step)
        y_fused = fused(feats)
        # the mask drew exactly the random numbers F.dropout2d draws
        assert torch.equal(torch.get_rng_state(), state_lit)
        assert y_fused.shape == y_lit.shape == (3, 5, 10, 14) and y_fused.is_contiguous()
        _close(y_fused, y_lit)
        params_f, params_l = list(fused.parameters()) + feats, list(lit.parameters()) + feats
        for a, b in zip(_grads(y_fused, params_f), _grads(y_lit, params_l)):
            _close(a, b)
    for name, buf in lit.linear_fuse.bn.named_buffers():
        _close(fused.linear_fuse.bn.get_buffer(name).double(), buf.double())
    if case in ("eval", "frozen_bn"):
        assert lit.linear_fuse.bn.num_batches_tracked.item() == 0


def test_fused_head_tail_keeps_only_its_input_for_backward():
    """Memory: the function saves the tokens of f and per-channel vectors, not the [B, N, E] rectified map."""
    from ddeseg_layers.head import _BNReLUDropPred

    head = SegFormerHead((8, 16, 24, 32), 5, embed_dim=12, fused=True).train()
    feats = [torch.randn(2, c, 8 // 2**i, 8 // 2**i, requires_grad=True) for i, c in enumerate((8, 16, 24, 32))]
    y = head(feats)
    node = y.grad_fn
    while node is not None and "BNReLUDropPred" not in type(node).__name__:
        node = node.next_functions[0][0]
    assert node is not None and issubclass(_BNReLUDropPred, torch.autograd.Function)
    big = [t for t in node.saved_tensors if t is not None and t.numel() >= 2 * 64 * 12]
    assert len(big) == 1 and big[0].shape == (2, 64, 12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fused_head_tail_under_autocast_gives_parameter_dtype_gradients_close_to_fp32(dtype):
    """Under CPU autocast the tail's backward recomputes its map in the forward's dtype: gradients arrive in the
    parameters' dtype, finite, and within low-precision rounding of the float32 head's."""
    torch.manual_seed(0)
    dims = (8, 16, 24, 32)
    head = SegFormerHead(dims, 5, embed_dim=16, fused=True).train()
    feats = [
        torch.randn(2, c, 16 // 2**i, 16 // 2**i).contiguous(memory_format=torch.channels_last).requires_grad_()
        for i, c in enumerate(dims)
    ]
    params = list(head.parameters()) + feats
    torch.manual_seed(1)
    y32 = head(feats)
    g32 = torch.autograd.grad(y32.pow(2).sum(), params)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=dtype):
        y = head(feats)
    g = torch.autograd.grad(y.float().pow(2).sum(), params)
    assert (y.float() - y32).norm() <= 0.02 * y32.norm()
    names = [n for n, _ in head.named_parameters()] + [f"feat{i}" for i in range(4)]
    for name, a, b, p in zip(names, g, g32, params):
        assert a.dtype == p.dtype and torch.isfinite(a).all(), name
        if name.endswith("proj.bias"):  # cancelled by training-mode BatchNorm: exactly zero in both
            assert not a.any() and not b.any(), name
        else:  # relative Frobenius error: low-precision rounding through BatchNorm's backward (a few %)
            assert (a - b).norm() <= 0.1 * b.norm(), name


def test_mixffn_conv_gelu_linear_function_equals_plain_modules():
    torch.manual_seed(0)
    ffn = MixFFN(8, 32).to(F64).train()
    x = torch.randn(2, 6 * 5, 8, dtype=F64, requires_grad=True)
    params = [x, *ffn.parameters()]
    fast = ffn(x, (6, 5))
    assert fast.grad_fn is not None and "ConvGeluLinear" in type(fast.grad_fn).__name__
    plain = ffn.fc2(ffn.act(ffn.dwconv(ffn.fc1(x), (6, 5))))
    _close(fast, plain)
    for a, b in zip(_grads(fast, params), _grads(plain, params)):
        _close(a, b)
    with torch.no_grad():
        _close(ffn(x, (6, 5)), plain)


@pytest.mark.parametrize("hooked", [False, True])
def test_mixffn_forward_normed_equals_norm_then_mixffn(hooked):
    """LayerNorm + fc1 as one function that keeps the un-normalised tokens: the same values and gradients (LayerNorm
    affine terms included) as ``mlp(norm(x))``; it keeps x, not norm(x); with a hook on the norm the modules run."""
    torch.manual_seed(0)
    ffn = MixFFN(8, 32).to(F64).train()
    norm = torch.nn.LayerNorm(8, eps=1e-5).to(F64)
    with torch.no_grad():
        norm.weight.add_(0.3 * torch.randn(8, dtype=F64))
        norm.bias.add_(0.3 * torch.randn(8, dtype=F64))
    calls = []
    if hooked:
        norm.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    x = torch.randn(2, 6 * 5, 8, dtype=F64, requires_grad=True)
    params = [x, norm.weight, norm.bias, *ffn.parameters()]
    fast = ffn.forward_normed(x, norm, (6, 5))
    plain = ffn.fc2(ffn.act(ffn.dwconv(ffn.fc1(norm(x)), (6, 5))))
    assert len(calls) == (2 if hooked else 0)  # hooked: forward_normed ran the norm module, as did `plain`
    node = fast.grad_fn.next_functions[0][0]  # the Mix-FFN function's input: the hidden tokens' producer
    assert ("NormLinear" in type(node).__name__) != hooked
    if not hooked:
        assert [t.shape for t in node.saved_tensors if t.dim() == 3 and t.shape[-1] == 8] == [x.shape]
        assert node.saved_tensors[0] is x or node.saved_tensors[0].data_ptr() == x.data_ptr()
    _close(fast, plain)
    for a, b in zip(_grads(fast, params), _grads(plain, params)):
        _close(a, b)


@pytest.mark.parametrize("hw, ratio, hooked", [((8, 12), 4, False), ((12, 6), 2, False), ((10, 9), 4, False),
                                                ((8, 12), 1, False), ((8, 12), 2, True)])
def test_attention_forward_normed_equals_norm_then_attention(hw, ratio, hooked):
    """LayerNorm + q + spatial reduction as one function that keeps the un-normalised tokens (R > 1 dividing H, W):
    the same values and gradients as ``attn(norm(x))``; other shapes, R = 1 and hooks take the modules."""
    torch.manual_seed(0)
    attn = EfficientSelfAttention(16, 2, sr_ratio=ratio).to(F64).train()
    norm = torch.nn.LayerNorm(16, eps=1e-5).to(F64)
    with torch.no_grad():
        for p in (norm.weight, norm.bias, *attn.parameters()):
            p.add_(0.1 * torch.randn_like(p))
    if hooked:
        attn.q.register_forward_hook(lambda m, i, o: None)
    x = torch.randn(2, hw[0] * hw[1], 16, dtype=F64, requires_grad=True)
    params = [x, norm.weight, norm.bias, *attn.parameters()]
    fast = attn.forward_normed(x, norm, hw)
    ref = attn(norm(x), hw)
    fused = ratio > 1 and hw[0] % ratio == 0 and hw[1] % ratio == 0 and not hooked
    seen, stack = {}, [fast.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and id(node) not in seen:
            seen[id(node)] = node  # held, so that no id is reused during the walk
            stack.extend(f for f, _ in node.next_functions)
    assert any("NormQReduce" in type(n).__name__ for n in seen.values()) == fused
    _close(fast, ref)
    for a, b in zip(_grads(fast, params), _grads(ref, params)):
        _close(a, b)


def _graph_names(out):
    seen, stack = {}, [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and id(node) not in seen:
            seen[id(node)] = node
            stack.extend(f for f, _ in node.next_functions)
    return [type(n).__name__ for n in seen.values()]


def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("part", ["mixffn", "attention"])
def test_fused_block_functions_under_autocast_match_the_modules_under_autocast(part, dtype):
    """Under CPU autocast the LayerNorm + fc1, conv + GELU + fc2 and LayerNorm + q + reduction functions run (they
    stood aside before) and compute what the modules compute under the same autocast: LayerNorm in float32, the
    products in the autocast dtype; outputs in that dtype, gradients in the parameters' dtype. The module reference
    rounds at the same places, so the two agree far more closely than either agrees with float32."""
    torch.manual_seed(0)
    if part == "mixffn":
        mod, hw, c = MixFFN(16, 64).train(), (6, 5), 16
    else:
        mod, hw, c = EfficientSelfAttention(16, 2, sr_ratio=2).train(), (8, 6), 16
    norm = torch.nn.LayerNorm(c)
    with torch.no_grad():
        for p in (norm.weight, norm.bias, *mod.parameters()):
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, hw[0] * hw[1], c, requires_grad=True)
    params = [x, norm.weight, norm.bias, *mod.parameters()]
    with torch.autocast("cpu", dtype=dtype):
        fast = mod.forward_normed(x, norm, hw)
        if part == "mixffn":
            ref = mod.fc2(mod.act(mod.dwconv(mod.fc1(norm(x)), hw)))
        else:
            ref = mod(norm(x), hw)
    names = _graph_names(fast)
    expected = ["NormLinear", "ConvGeluLinear"] if part == "mixffn" else ["NormQReduce"]
    for e in expected:
        assert any(e in n for n in names), (e, names)
    assert not any("NormLinear" in n or "NormQReduce" in n for n in _graph_names(ref))
    assert fast.dtype == ref.dtype == dtype
    with torch.no_grad():
        y32 = mod.fc2(mod.act(mod.dwconv(mod.fc1(norm(x)), hw))) if part == "mixffn" else mod(norm(x), hw)
    err_ref, err_32 = _rel(fast, ref), _rel(ref, y32)
    assert err_ref <= 0.25 * err_32 + 1e-6, (err_ref, err_32)
    g_fast, g_ref = _grads(fast.float(), params), _grads(ref.float(), params)
    for i, (a, b, p) in enumerate(zip(g_fast, g_ref, params)):
        assert a.dtype == p.dtype and torch.isfinite(a).all(), i
        assert _rel(a, b) <= 0.02, (i, _rel(a, b))


def test_fused_functions_under_autocast_stand_aside_for_low_precision_tokens():
    """A bf16 token stream under autocast: CPU and CUDA autocast would run LayerNorm in different dtypes, so the
    LayerNorm-fused functions leave it to the modules (the conv + GELU + fc2 function still runs)."""
    torch.manual_seed(0)
    ffn, norm = MixFFN(16, 64).train(), torch.nn.LayerNorm(16)
    attn = EfficientSelfAttention(16, 2, sr_ratio=2).train()
    x = torch.randn(2, 48, 16, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        names = _graph_names(ffn.forward_normed(x, norm, (8, 6)))
        names_attn = _graph_names(attn.forward_normed(x, norm, (8, 6)))
    assert not any("NormLinear" in n for n in names) and any("ConvGeluLinear" in n for n in names)
    assert not any("NormQReduce" in n for n in names_attn)


@pytest.mark.parametrize("hw, ratio", [((8, 12), 4), ((12, 6), 2), ((10, 9), 4)])
def test_spatial_reduction_gemm_equals_strided_convolution(hw, ratio):
    torch.manual_seed(0)
    attn = EfficientSelfAttention(16, 2, sr_ratio=ratio).to(F64)
    x = torch.randn(2, hw[0] * hw[1], 16, dtype=F64, requires_grad=True)
    params = [x, attn.sr.weight, attn.sr.bias]
    fast = attn.reduce(x, hw)
    ref = attn.sr(x.transpose(1, 2).reshape(2, 16, *hw)).flatten(2).transpose(1, 2)
    assert fast.shape == ref.shape == (2, (hw[0] // ratio) * (hw[1] // ratio), 16)
    _close(fast, ref)
    for a, b in zip(_grads(fast, params), _grads(ref, params)):
        _close(a, b)


def test_models_build_the_fused_head_and_return_channels_last_views():
    m = build_ddeseg(U.tiny_cfg())
    assert m.head.fused
    x = torch.randn(2, 6 * 5, 7)
    y = tokens_to_map(x, (6, 5))
    assert y.shape == (2, 7, 6, 5) and y.data_ptr() == x.data_ptr()
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert y.flatten(2).transpose(1, 2).is_contiguous()


def _tiny(variant: str, **extra):
    cfg = U.tiny_cfg(**extra)
    if variant == "official":
        cfg.update(variant="official", elimination={})
    torch.manual_seed(0)
    m = build_ddeseg(cfg).to(F64)
    mem = U.tiny_memory()
    m.set_memory(type(mem).from_official(mem.reps.to(F64), dtype=F64))
    return m


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_activation_checkpointing_keeps_loss_and_gradients(variant):
    ref = _tiny(variant)
    ckpt = _tiny(variant, checkpoint_stages=[2, 3])
    ckpt.load_state_dict(ref.state_dict())
    assert ckpt.encoder.checkpoint_stages == (2, 3)
    img = torch.randn(2, 3, 64, 64, dtype=F64)
    audio = torch.randn(2, 32, dtype=F64)
    target = torch.randint(0, 4, (2, 64, 64))
    out = {}
    for name, m in (("ref", ref), ("ckpt", ckpt)):
        m.train()
        torch.manual_seed(5)  # the same Gumbel noise and dropout masks
        loss = torch.nn.functional.cross_entropy(m(img, audio), target)
        loss.backward()
        out[name] = (loss.detach(), {n: p.grad for n, p in m.named_parameters() if p.grad is not None})
    _close(out["ckpt"][0], out["ref"][0])
    assert out["ckpt"][1].keys() == out["ref"][1].keys()
    for n, g in out["ref"][1].items():
        assert (out["ckpt"][1][n] - g).abs().max().item() <= 1e-9 * max(g.abs().max().item(), 1e-12), n


def test_checkpoint_stages_validation():
    with pytest.raises(ValueError, match="checkpoint_stages"):
        build_ddeseg(U.tiny_cfg(checkpoint_stages=[5]))
    with pytest.raises(ValueError, match="checkpoint_stages"):
        build_ddeseg(U.tiny_cfg(encoder=dict(U.TINY_GEOMETRY, type="pvt"), checkpoint_stages=[3]))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_dynamo_finds_no_graph_break_in_the_training_forward(variant):
    import torch._dynamo

    m = U.variant_model(build_ddeseg("tiny").cfg.to_dict(), variant)
    m.train()
    torch._dynamo.reset()
    explain = torch._dynamo.explain(m)(torch.randn(2, 3, 64, 64), torch.randn(2, m.audio_dim))
    assert explain.graph_break_count == 0, [str(b.reason) for b in explain.break_reasons]
    assert explain.graph_count == 1


@pytest.mark.parametrize("shifted", [False, True])
def test_htsat_window_attention_through_sdpa_equals_literal_softmax(shifted):
    from ddeseg_layers.audio.htsat import WindowAttention

    torch.manual_seed(0)
    attn = WindowAttention(32, 4, 4).to(F64)
    torch.nn.init.normal_(attn.relative_position_bias_table)
    x = torch.randn(3 * 4, 16, 32, dtype=F64)  # 3 spectrograms x 4 windows of 4 x 4 tokens
    mask = None
    if shifted:
        mask = torch.zeros(4, 16, 16, dtype=F64)
        mask[1:, :, 8:] = -100.0
    bw, n, c = x.shape
    q, k, v = attn.qkv(x).view(bw, n, 3, 4, 8).permute(2, 0, 3, 1, 4).unbind(0)
    logits = (q * attn.scale) @ k.transpose(-2, -1)
    bias = attn.relative_position_bias_table[attn.relative_position_index.view(-1)].view(n, n, -1)
    logits = logits + bias.permute(2, 0, 1)[None]
    if mask is not None:
        logits = (logits.view(3, 4, 4, n, n) + mask[None, :, None]).view(bw, 4, n, n)
    ref = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c))
    _close(attn(x, mask), ref)
