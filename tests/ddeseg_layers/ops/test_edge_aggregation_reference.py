"""The literal reference (the oracle) against hand-computed values and its entry_mask semantics."""

import math

import torch
import torch.nn.functional as F

from ddeseg_layers.ops.edge_aggregation import edge_aggregate_reference


def _gelu(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_hand_computed_d1():
    # d = 1, W = 2, b = 0.5, w = 3; query 1.0; memory class 0 holds entries 0.0 and 2.0
    f64 = torch.float64
    q = torch.tensor([[1.0]], dtype=f64)
    mem = torch.tensor([[[0.0], [2.0]]], dtype=f64)
    idx = torch.tensor([[0]])
    W, b, w = torch.tensor([[2.0]], dtype=f64), torch.tensor([0.5], dtype=f64), torch.tensor([3.0], dtype=f64)
    e = [_gelu(2.0 * (0.0 - 1.0) + 0.5), _gelu(2.0 * (2.0 - 1.0) + 0.5)]
    s = [3.0 * e[0], 3.0 * e[1]]
    z = math.exp(s[0]) + math.exp(s[1])
    a = [math.exp(s[0]) / z, math.exp(s[1]) / z]
    edges = edge_aggregate_reference(q, mem, idx, W, b, w, False)
    assert edges.shape == (1, 2, 1)
    torch.testing.assert_close(edges[0, :, 0], torch.tensor([a[0] * e[0], a[1] * e[1]], dtype=f64))
    summed = edge_aggregate_reference(q, mem, idx, W, b, w, True)
    torch.testing.assert_close(summed, torch.tensor([[a[0] * e[0] + a[1] * e[1]]], dtype=f64))


def test_entry_order_is_g_major():
    # j = g * R + r: the edges of the first indexed class come first
    torch.manual_seed(0)
    d, R = 4, 3
    mem = torch.randn(5, R, d, dtype=torch.float64)
    q = torch.randn(1, d, dtype=torch.float64)
    W, b, w = (
        torch.eye(d, dtype=torch.float64),
        torch.zeros(d, dtype=torch.float64),
        torch.zeros(d, dtype=torch.float64),
    )
    out = edge_aggregate_reference(q, mem, torch.tensor([[4, 1]]), W, b, w, False)
    # w = 0: uniform weights 1/J, e = GELU(x - q)
    expected = F.gelu(torch.cat([mem[4], mem[1]]) - q) / (2 * R)
    torch.testing.assert_close(out[0], expected)


def test_entry_mask_excludes_entries_and_empty_rows_are_zero():
    torch.manual_seed(1)
    Q, C, R, d = 3, 2, 4, 5
    f64 = torch.float64
    q = torch.randn(Q, d, dtype=f64, requires_grad=True)
    mem = torch.randn(C, R, d, dtype=f64, requires_grad=True)
    W, b, w = torch.randn(d, d, dtype=f64), torch.randn(d, dtype=f64), torch.randn(d, dtype=f64)
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    idx = torch.tensor([[0], [1], [0]])
    out = edge_aggregate_reference(q, mem, idx, W, b, w, False, entry_mask=mask)
    # masked entries: exactly zero; kept entries: softmax over the kept entries only
    assert (out[:, [1, 3]] == 0).all() and (out[1] == 0).all()
    kept = edge_aggregate_reference(q[[0]], mem[:, [0, 2]], idx[[0]], W, b, w, False)
    torch.testing.assert_close(out[0, [0, 2]], kept[0])
    summed = edge_aggregate_reference(q, mem, idx, W, b, w, True, entry_mask=mask)
    torch.testing.assert_close(summed, out.sum(1))
    # no NaN in the gradients; the all-masked query and the masked entries receive none
    gq, gm = torch.autograd.grad(summed.sum(), (q, mem))
    assert torch.isfinite(gq).all() and torch.isfinite(gm).all()
    assert (gq[1] == 0).all() and (gm[:, [1, 3]] == 0).all() and (gm[1] == 0).all()
    assert gq[0].abs().sum() > 0
