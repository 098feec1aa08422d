"""Backend dispatch of edge_aggregate: automatic choice, DDESEG_BACKEND, refusals with reasons, report()."""

import pytest
import torch

from ddeseg_layers.ops import dispatch
from ddeseg_layers.ops.edge_aggregation import edge_aggregate
from ddeseg_layers.ops.edge_aggregation.op import OP_NAME


def _inputs(dtype=torch.float32, device="cpu", d=8):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, d, generator=g).to(device=device, dtype=dtype)
    m = torch.randn(2, 4, d, generator=g).to(device=device, dtype=dtype)
    idx = torch.tensor([[0], [1], [1]], device=device)
    W = torch.randn(d, d, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(d, generator=g).to(device=device, dtype=dtype)
    w = torch.randn(d, generator=g).to(device=device, dtype=dtype)
    return {"query": q, "memory": m, "index": idx, "weight": W, "bias": b, "score_weight": w, "reduce": True}


def _args(inp):
    return [inp[k] for k in ("query", "memory", "index", "weight", "bias", "score_weight", "reduce")]


def test_auto_on_cpu_is_factorised_torch(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    assert dispatch.select(OP_NAME, _inputs()).name == "torch"
    # float64 is refused by triton even on CUDA: automatic selection falls back to torch
    assert dispatch.select(OP_NAME, _inputs(torch.float64)).name == "torch"


def test_reference_only_on_request(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    names = [b.name for b in dispatch.backends(OP_NAME)]
    assert names == ["triton", "torch", "reference"]
    assert dispatch.select(OP_NAME, _inputs(), "reference").name == "reference"


def test_env_var_forces_backend_and_argument_wins(monkeypatch):
    inp = _inputs(torch.float64)
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    assert dispatch.select(OP_NAME, inp).name == "reference"
    assert dispatch.select(OP_NAME, inp, "torch").name == "torch"
    # the forced backend really runs: both agree on float64 inputs
    torch.testing.assert_close(edge_aggregate(*_args(inp)), edge_aggregate(*_args(inp), backend="torch"))


def test_forced_triton_on_cpu_lists_reasons(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    with pytest.raises(dispatch.BackendNotSupportedError, match="DDESEG_BACKEND") as err:
        edge_aggregate(*_args(_inputs(torch.float64)))
    msg = str(err.value)
    assert "CUDA" in msg and "float64" in msg


def test_triton_refuses_too_large_d():
    reasons = {b.name: b for b in dispatch.backends(OP_NAME)}["triton"].not_supported_reasons(_inputs(d=4100))
    assert any("4096" in r for r in reasons)


def test_unknown_backend_name(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match="unknown backend 'cuda'.*reference"):
        edge_aggregate(*_args(_inputs()))


def test_no_automatic_backend_lists_every_refusal():
    def refuse(reason):
        return lambda inputs: [reason]

    op = "test_only_op"
    dispatch.register_backend(op, dispatch.Backend("a", refuse("no A here"), lambda: []))
    dispatch.register_backend(op, dispatch.Backend("b", refuse("no B here"), lambda: []))
    with pytest.raises(dispatch.BackendNotSupportedError, match="(?s)a: no A here.*b: no B here"):
        dispatch.select(op, {})
    dispatch._REGISTRY.pop(op)


def test_report(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "torch")
    rows = [r for r in dispatch.report() if r["op"] == OP_NAME]
    by_name = {r["backend"]: r for r in rows}
    assert set(by_name) == {"triton", "torch", "reference"}
    assert by_name["torch"]["available"] and by_name["reference"]["available"]
    assert by_name["triton"]["available"] == (torch.cuda.is_available())
    assert by_name["triton"]["available"] or any("CUDA" in r for r in by_name["triton"]["reasons"])
    assert all(r["forced"] == "torch" for r in rows)
    assert not by_name["reference"]["auto"]
