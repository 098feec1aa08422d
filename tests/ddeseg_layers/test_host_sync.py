"""The training step reads no tensor value on the host (what CUDA graph capture of the step needs).

A device -> host read during CUDA graph capture is an error; on the ``meta`` device (shapes, no values) it fails
too. So a whole training step (forward, loss, backward) that runs on ``meta`` has no such read, which is checked
here on a machine without a GPU (``ddeseg_layers/host_sync.py``). The eager value checks still run on real tensors.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddeseg_layers.audio.precomputed import PrecomputedAudio
from ddeseg_layers.host_sync import values_readable
from ddeseg_layers.memory import SemanticMemory
from ddeseg_layers.model import build_ddeseg, preset_config

from . import _network_utils as U


def _training_step(model: torch.nn.Module, img_size: int, audio_shape: tuple[int, ...], device: str):
    """One training step on ``device``; returns the logits and the names of the parameters that got a gradient."""
    model = model.to(device).train()
    model.zero_grad(set_to_none=True)
    img = torch.randn(2, 3, img_size, img_size, device=device)
    audio = 0.1 * torch.randn(*audio_shape, device=device)
    y = model(img, audio)
    target = torch.zeros(2, img_size, img_size, dtype=torch.long, device=device)
    F.cross_entropy(y, target).backward()
    return y, {n for n, p in model.named_parameters() if p.grad is not None}


def _meta_training_step(model: torch.nn.Module, img_size: int, audio_shape: tuple[int, ...], cpu_size: int):
    """The step on meta, after a CPU step at ``cpu_size`` px: the same parameters get a gradient on both (the
    official network has parameters its forward never uses, as the release has)."""
    _, on_cpu = _training_step(model, cpu_size, audio_shape, "cpu")
    y, on_meta = _training_step(model, img_size, audio_shape, "meta")
    assert on_cpu and on_meta == on_cpu, sorted(on_meta ^ on_cpu)[:5]
    assert y.device.type == "meta"
    return y


def test_a_host_read_fails_on_meta_so_the_check_below_can_fail():
    x = torch.randn(3, device="meta")
    with pytest.raises((RuntimeError, NotImplementedError)):
        bool(torch.isfinite(x).all())


def test_values_readable():
    assert values_readable(torch.zeros(2))
    assert not values_readable(torch.zeros(2), torch.zeros(2, device="meta"))
    assert not values_readable(torch.zeros(2, device="meta"))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_tiny_training_step_runs_on_meta(variant):
    m = U.variant_model(U.tiny_cfg(), variant)
    y = _meta_training_step(m, 64, (2, m.audio_dim), cpu_size=64)
    assert tuple(y.shape) == (2, 4, 64, 64)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["official", "paper-mit_b5-htsat", "paper-mit_b5-vggish", "paper-pvt_v2_b5-htsat"])
def test_full_size_training_step_runs_on_meta(preset):
    torch.manual_seed(0)
    m = build_ddeseg(preset_config(preset))
    m.set_memory(SemanticMemory.from_official(torch.randn(71, 5, m.audio_dim)))
    sr = getattr(m.audio, "sample_rate", None)
    y = _meta_training_step(m, 224, (2, sr) if sr else (2, m.audio_dim), cpu_size=64)
    assert tuple(y.shape) == (2, 71, 224, 224)


def test_eager_value_checks_still_run_on_real_tensors():
    backbone = PrecomputedAudio(dim=4)
    with pytest.raises(ValueError, match="NaN or inf"):
        backbone(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))
    # on meta the check is skipped (no values), the shape checks are not
    assert backbone(torch.randn(2, 4, device="meta")).shape == (2, 4)
    with pytest.raises(ValueError, match="expected cached features"):
        backbone(torch.randn(2, 5, device="meta"))


def test_derivation_on_meta_uses_the_memory_cached_count():
    torch.manual_seed(0)
    m = build_ddeseg(U.tiny_cfg())
    mem = U.tiny_memory(num_classes=4, dim=m.audio_dim)
    m.set_memory(mem)
    der = m.derivation.to("meta")
    meta_mem = m.memory.to("meta")
    assert meta_mem.present_count == 4
    out = der(torch.randn(2, m.audio_dim, device="meta"), meta_mem)
    assert out.device.type == "meta" and out.shape[:2] == (2, der.num_neighbors)
    meta_mem.present_count = 1  # fewer present classes than neighbours: still refused, from the cached count
    with pytest.raises(ValueError, match="present classes"):
        der(torch.randn(2, m.audio_dim, device="meta"), meta_mem)


def test_a_cpu_run_never_asks_cuda(monkeypatch):
    def boom():
        raise AssertionError("values_readable asked CUDA for CPU tensors")

    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", boom)
    assert values_readable(torch.zeros(2), torch.zeros(3))
