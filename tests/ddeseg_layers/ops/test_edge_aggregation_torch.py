"""Factorised PyTorch path and the registered op's CPU kernels against the float64 literal reference.

Values and gradients (query, memory, W, b, w), odd shapes, ties, extreme scores, entry_mask, reduced precision
graded fairly (error <= 2 x the same-dtype literal reference's error + atol), opcheck, torch.compile tracing,
memory_proj and ProjectedMemoryCache.
"""

import pytest
import torch

from ddeseg_layers.ops.edge_aggregation import (
    ProjectedMemoryCache,
    cached_projection,
    edge_aggregate,
    edge_aggregate_reference,
)
from ddeseg_layers.ops.edge_aggregation.op import edge_aggregate_fused
from ddeseg_layers.ops.edge_aggregation.torch_impl import edge_aggregate_torch, project_memory, project_query

TORCH_DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", marks=pytest.mark.gpu, id="cuda")]

SHAPES = [
    # (Q, C, R, G, d)
    pytest.param((6, 5, 1, 3, 17), id="step2-R1-d17"),  # inter-class: R = 1, G = K neighbours, odd d
    pytest.param((5, 3, 37, 1, 20), id="step3-R37"),  # intra-class: G = 1, R not a power of two
    pytest.param((4, 4, 5, 2, 33), id="G2-R5-d33"),  # several classes of several reps
    pytest.param((3, 2, 1, 1, 1), id="d1-J1"),  # a single entry: softmax weight 1
]


def _op_path(query, memory, index, weight, bias, score_weight, reduce, *, entry_mask=None):
    """The registered op (CPU kernel = factorised path with manual backward) through its autograd."""
    P, U = project_memory(memory, weight), project_query(query, weight, bias)
    return edge_aggregate_fused(P, U, index, score_weight, entry_mask, reduce)[0]


PATHS = [pytest.param(edge_aggregate_torch, id="factorised"), pytest.param(_op_path, id="op")]


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reduce", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_float64_matches_reference(eh, device_ok, device, path, reduce, shape):
    device_ok(device)
    case = eh.make_case(*shape)
    oracle = eh.reference_f64(case, reduce)
    got = eh.run_with_grads(path, eh.cast_case(case, torch.float64, device), reduce)
    assert got[0].shape == oracle[0].shape
    torch.testing.assert_close(got[0].cpu(), oracle[0], rtol=1e-10, atol=1e-10)
    for k in eh.NAMES:
        torch.testing.assert_close(got[1][k].cpu(), oracle[1][k], rtol=1e-9, atol=1e-10, msg=k)


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduce", [False, True])
def test_reduced_precision_graded(eh, device_ok, device, path, dtype, reduce):
    device_ok(device)
    case = eh.make_case(5, 4, 7, 2, 24, seed=3, with_mask=True)
    oracle = eh.reference_f64(case, reduce)
    base = eh.run_with_grads(edge_aggregate_reference, eh.cast_case(case, dtype, device), reduce)
    got = eh.run_with_grads(path, eh.cast_case(case, dtype, device), reduce)
    assert got[0].dtype == dtype
    eh.assert_graded(got, base, oracle, dtype, f"{path.__name__} {dtype}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "score_scale",
    [
        pytest.param(0.0, id="ties-zero-scores"),  # w = 0: every score ties, uniform weights
        pytest.param(300.0, id="huge-scores"),  # |s| ~ 1e3: exp overflows without max subtraction
    ],
)
def test_softmax_stability(eh, path, score_scale):
    case = eh.make_case(4, 3, 6, 2, 16, seed=5, score_scale=score_scale)
    for reduce in (False, True):
        oracle = eh.reference_f64(case, reduce)
        got = eh.run_with_grads(path, eh.cast_case(case, torch.float32, "cpu"), reduce)
        assert torch.isfinite(got[0]).all()
        torch.testing.assert_close(got[0].double(), oracle[0], rtol=1e-4, atol=1e-4)
        for k in eh.NAMES:
            assert torch.isfinite(got[1][k]).all(), k
            scale = max(1.0, oracle[1][k].abs().max().item())
            assert eh.max_err(got[1][k], oracle[1][k]) <= 1e-4 * scale, k


@pytest.mark.parametrize("path", PATHS)
def test_very_negative_scores_and_tied_entries(eh, path):
    # every score around -2e4 (an unshifted exp underflows to 0 -> 0/0) and identical reps in each class
    case = eh.make_case(3, 3, 4, 1, 8, seed=7)
    case["memory"] = case["memory"][:, :1].expand(3, 4, 8).clone()
    case["bias"] = torch.full((8,), 50.0, dtype=torch.float64)
    case["score_weight"] = torch.full((8,), -50.0, dtype=torch.float64)
    oracle = eh.reference_f64(case, True)
    assert oracle[0].abs().max() > 1.0
    got = eh.run_with_grads(path, eh.cast_case(case, torch.float32, "cpu"), True)
    torch.testing.assert_close(got[0].double(), oracle[0], rtol=1e-5, atol=1e-4)
    edges = path(
        *[eh.cast_case(case, torch.float32, "cpu", False)[k] for k in ("query", "memory", "index")],
        *[eh.cast_case(case, torch.float32, "cpu", False)[k] for k in ("weight", "bias", "score_weight")],
        False,
    )
    # tied entries: uniform weights 1/R
    torch.testing.assert_close(edges * 4, edges[:, :1].expand_as(edges) * 4)


@pytest.mark.parametrize("path", PATHS)
def test_entry_mask_all_masked_query(eh, path):
    case = eh.make_case(4, 3, 5, 1, 12, seed=9, with_mask=True)
    case["entry_mask"][case["index"][2, 0]] = False  # query 2 sees only masked entries
    for reduce in (False, True):
        oracle = eh.reference_f64(case, reduce)
        got = eh.run_with_grads(path, eh.cast_case(case, torch.float64, "cpu"), reduce)
        assert (got[0][2] == 0).all()
        assert (got[1]["query"][2] == 0).all()
        torch.testing.assert_close(got[0], oracle[0], rtol=1e-10, atol=1e-10)
        for k in eh.NAMES:
            torch.testing.assert_close(got[1][k], oracle[1][k], rtol=1e-9, atol=1e-10, msg=k)


@pytest.mark.parametrize(("reduce", "with_mask"), [(False, True), (True, False)])
def test_opcheck(eh, reduce, with_mask):
    case = eh.make_case(4, 3, 3, 2, 9, seed=11, with_mask=with_mask)
    P = project_memory(case["memory"], case["weight"]).float().requires_grad_()
    U = project_query(case["query"], case["weight"], case["bias"]).float().requires_grad_()
    w = case["score_weight"].float().requires_grad_()
    torch.library.opcheck(edge_aggregate_fused, (P, U, case["index"], w, case["entry_mask"], reduce))


def test_torch_compile_traces_through_op(eh):
    case = eh.make_case(4, 3, 3, 2, 9, seed=12, with_mask=True)
    c32 = eh.cast_case(case, torch.float32, "cpu")

    def fn(q, m, W, b, w):
        return _op_path(q, m, case["index"], W, b, w, True, entry_mask=case["entry_mask"])

    args = [c32[k] for k in eh.NAMES]
    eager = fn(*args)
    g_eager = torch.autograd.grad(eager.sum(), args)
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)(*args)
    g_comp = torch.autograd.grad(compiled.sum(), args)
    torch.testing.assert_close(compiled, eager)
    for a, b in zip(g_comp, g_eager):
        torch.testing.assert_close(a, b)


def test_memory_proj_is_used(eh):
    case = eh.cast_case(eh.make_case(3, 3, 4, 1, 6, seed=13), torch.float64, "cpu", False)
    args = [case[k] for k in ("query", "memory", "index", "weight", "bias", "score_weight")]
    P = project_memory(case["memory"], case["weight"])
    out = edge_aggregate(*args, True, backend="torch", memory_proj=P)
    torch.testing.assert_close(out, edge_aggregate_reference(*args, True))
    # a different projection changes the result: memory_proj really replaces memory @ W^T
    assert not torch.allclose(edge_aggregate(*args, True, backend="torch", memory_proj=P + 1.0), out)
    with pytest.raises(ValueError, match="memory_proj"):
        edge_aggregate(*args, True, backend="torch", memory_proj=P[:, :2])


def test_projected_memory_cache():
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 6)
    memory = torch.randn(3, 4, 6)
    cache = ProjectedMemoryCache()
    with torch.no_grad():
        p1 = cache(memory, linear.weight)
        p2 = cache(memory, linear.weight)
        assert p2 is p1 and (cache.hits, cache.misses) == (1, 1)
        torch.testing.assert_close(p1, memory @ linear.weight.t())
        linear.weight.mul_(2.0)  # in-place change of W: version bump -> recompute
        p3 = cache(memory, linear.weight)
        assert p3 is not p1 and cache.misses == 2
        torch.testing.assert_close(p3, memory @ linear.weight.t())
        memory.add_(1.0)  # in-place change of the memory
        torch.testing.assert_close(cache(memory, linear.weight), memory @ linear.weight.t())
        misses = cache.misses
        cache(memory[:, None][:, 0], linear.weight)  # a fresh view of the same storage: still a hit
        assert cache.misses == misses
        other = memory.clone()  # another storage with the same values
        cache(other, linear.weight)
        assert cache.misses == misses + 1
    # with grad enabled and W requiring grad the cache is bypassed and the result carries a graph
    p = cache(memory, linear.weight)
    assert p.requires_grad and p.grad_fn is not None and cache.misses == misses + 2


def test_cached_projection_per_owner():
    owner_a, owner_b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    memory, weight = torch.randn(2, 3, 4), torch.randn(4, 4)
    with torch.no_grad():
        p1 = cached_projection(owner_a, "s2", memory, weight)
        assert cached_projection(owner_a, "s2", memory, weight) is p1
        assert cached_projection(owner_b, "s2", memory, weight) is not p1
        torch.testing.assert_close(p1, memory @ weight.t())


def test_bad_inputs_raise_clear_errors(eh):
    c = eh.cast_case(eh.make_case(3, 3, 2, 1, 4), torch.float32, "cpu", False)
    args = dict(c)
    base = [args[k] for k in ("query", "memory", "index", "weight", "bias", "score_weight")]
    with pytest.raises(ValueError, match="memory must be"):
        edge_aggregate(base[0], base[1][..., :3], *base[2:], True)
    with pytest.raises(TypeError, match="index must be int64"):
        edge_aggregate(base[0], base[1], base[2].int(), *base[3:], True)
    with pytest.raises(IndexError, match="index values"):
        edge_aggregate(base[0], base[1], base[2] + 5, *base[3:], True)
    with pytest.raises(ValueError, match="entry_mask"):
        edge_aggregate(*base, True, entry_mask=torch.ones(3, 2))


@pytest.mark.parametrize("reduce", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_chunked_cpu_kernels_do_not_depend_on_chunking(eh, reduce, shape):
    """The op's CPU kernels walk the queries in cache-sized chunks; 1 query per chunk, a ragged split and a single
    chunk give the same values, stats and gradients (float64)."""
    from ddeseg_layers.ops.edge_aggregation.torch_impl import projected_backward, projected_forward_with_stats

    raw = eh.make_case(*shape, seed=21, with_mask=True)
    case = eh.cast_case(raw, torch.float64, "cpu", False)
    P = project_memory(case["memory"], case["weight"])
    U = project_query(case["query"], case["weight"], case["bias"])
    args = (P, U, case["index"], case["score_weight"], case["entry_mask"])
    Q, G = case["index"].shape
    J, d = G * P.shape[1], P.shape[2]
    row = J * d * 8  # bytes of one query's edges in float64
    results = []
    for chunk_bytes in (1, 2 * row + 1, 1 << 30):  # 1 query / 2 queries (ragged when Q is odd) / all at once
        out, stats = projected_forward_with_stats(*args, reduce, chunk_bytes=chunk_bytes)
        go = torch.linspace(-1.0, 1.0, out.numel(), dtype=torch.float64).reshape(out.shape)
        grads = projected_backward(go, out, stats, *args, reduce, chunk_bytes=chunk_bytes)
        results.append((out, stats, *grads))
    for other in results[:2]:
        for a, b in zip(other, results[2]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    oracle = eh.reference_f64(raw, reduce)[0]
    torch.testing.assert_close(results[0][0], oracle, rtol=1e-10, atol=1e-10)


def test_torch_backend_on_cpu_keeps_no_edge_tensor(eh):
    """On CPU the torch backend runs the op's chunked kernels: values and gradients equal the float64 reference and
    autograd keeps nothing of size [Q, J, d] (activation memory O(Q*d + C*R*d))."""
    Q, C, R, G, d = 12, 3, 40, 1, 24
    case = eh.make_case(Q, C, R, G, d, seed=22, with_mask=True)

    def torch_backend(*a, entry_mask=None):
        return edge_aggregate(*a, backend="torch", entry_mask=entry_mask)

    oracle = eh.reference_f64(case, True)
    got = eh.run_with_grads(torch_backend, eh.cast_case(case, torch.float64, "cpu"), True)
    torch.testing.assert_close(got[0], oracle[0], rtol=1e-10, atol=1e-10)
    for k in eh.NAMES:
        torch.testing.assert_close(got[1][k], oracle[1][k], rtol=1e-9, atol=1e-10, msg=k)

    c = eh.cast_case(case, torch.float32, "cpu")
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        edge_aggregate(
            *[c[k] for k in ("query", "memory", "index", "weight", "bias", "score_weight")],
            True,
            backend="torch",
            entry_mask=c["entry_mask"],
        )
    assert sizes and max(sizes) <= max(C * R * d, Q * d, d * d) < Q * R * d
