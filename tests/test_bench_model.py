"""benchmarks/bench_model.py on the CPU: the single-network run with a profile, and its refusals (speed is measured
by the benchmark itself, never asserted here)."""

from __future__ import annotations

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_model", os.path.join(REPO, "benchmarks", "bench_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_single_network_training_step_with_profile(bench, capsys):
    argv = ["--preset", "tiny", "--train", "--size", "64", "--batch", "2", "--repeats", "2", "--profile", "5"]
    res = bench.main(argv)
    assert res["mode"] == "forward+backward" and res["output"] == [2, 4, 64, 64]
    assert res["forward_s_median"] > 0 and res["cuda_graphs"] is False and res["cuda_reserved_mib"] is None
    out = capsys.readouterr().out
    assert "aten op calls" in out and "Self CPU" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cuda-graphs", "--train"], "needs --device cuda"),
        (["--cuda-graphs", "--device", "cuda"], "add --train"),
        (["--cuda-graphs", "--device", "cuda", "--train", "--compile"], "not combined with --compile"),
        (["--cuda-graphs", "--device", "cuda", "--train", "--checkpoint-stages", "3"], "--checkpoint-stages"),
        (["--compile-mode", "reduce-overhead", "--train"], "--compile-mode needs --compile"),
    ],
)
def test_refusals(bench, capsys, argv, message):
    with pytest.raises(SystemExit):
        bench.main(["--preset", "tiny", *argv])
    assert message in capsys.readouterr().err


def test_graphed_step_refuses_a_cpu_tensor(bench):
    import torch

    with pytest.raises(ValueError, match="needs a CUDA device"):
        bench.GraphedTrainStep(torch.nn.Identity(), torch.zeros(1), torch.zeros(1), torch.zeros(1), None, None)
