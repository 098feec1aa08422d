"""Shared helpers for the network tests (tiny configs, fixtures, cheap state dicts for meta-device models)."""

from __future__ import annotations

import json
import os
import warnings

import torch

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "keys")


def fixture_keys(name: str) -> dict[str, list[int]]:
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)["keys"]


def cheap_state_dict(shapes: dict[str, list[int]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Real CPU tensors of the given shapes, each filled with one random value, for strict key/shape checks
    against meta-device models (the values never reach the meta model; contiguous so the loader's finiteness
    check stays fast)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(0)
        else:
            out[k] = torch.full(s, float(torch.randn((), generator=g)))
    return out


def load_into_meta(fn, *args, **kwargs):
    """Run a loader against a meta-device model (copies are no-ops there; silence the per-key warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter.*")
        return fn(*args, **kwargs)


TINY_GEOMETRY = dict(
    embed_dims=(16, 16, 32, 32),
    num_heads=(1, 1, 2, 2),
    depths=(1, 2, 1, 1),
    sr_ratios=(4, 2, 1, 1),
    drop_path_rate=0.0,
)


def tiny_cfg(**overrides) -> dict:
    cfg = dict(
        num_classes=4,
        encoder=dict(TINY_GEOMETRY),
        audio=dict(type="precomputed", dim=32),
        memory=dict(num_classes=4, num_reps=3),
        derivation=dict(num_neighbors=2),
        elimination=dict(num_heads=2, num_centers=3),
        head=dict(embed_dim=32),
    )
    cfg.update(overrides)
    return cfg


def tiny_memory(num_classes: int = 4, dim: int = 32, reps: int = 3, seed: int = 0):
    from ddeseg_layers.memory import SemanticMemory

    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(num_classes * 12, dim, generator=g)
    labels = torch.arange(num_classes * 12) % num_classes
    return SemanticMemory.build(feats, labels, num_clusters=reps, num_reps=1)


def meta_state_dict(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Meta tensors of the given shapes (names + shapes only, no data)."""
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def assert_fits(module: torch.nn.Module, mapped: dict, allowed_missing: set[str]) -> None:
    """The strict loader's key/shape rules without touching data: no unexpected key, no shape mismatch, and every
    module key is either provided or in ``allowed_missing``."""
    own = module.state_dict()
    unexpected = sorted(set(mapped) - set(own))
    missing = sorted(set(own) - set(mapped) - allowed_missing)
    shape = sorted(k for k in mapped if k in own and tuple(mapped[k].shape) != tuple(own[k].shape))
    assert not unexpected and not missing and not shape, (unexpected[:5], missing[:5], shape[:5])


def mean_token_cosine(tokens: torch.Tensor) -> float:
    """Mean cosine between the K tokens of a frame over all pairs, averaged over frames ([N, K, d] -> float; 1: the
    K tokens of every frame point the same way)."""
    t = torch.nn.functional.normalize(tokens, dim=-1)
    k = tokens.shape[1]
    c = t @ t.transpose(1, 2)
    return ((c.sum((1, 2)) - k) / (k * (k - 1))).mean().item()


def variant_model(cfg: dict, variant: str):
    """``build_ddeseg(cfg)`` as the paper or the official variant (seeded), with a random official-format memory
    (3 reps per class)."""
    from ddeseg_layers.model import build_ddeseg

    cfg = dict(cfg)
    if variant == "official":
        cfg.update(variant="official", elimination={})
    torch.manual_seed(0)
    m = build_ddeseg(cfg)
    mem = m.memory
    m.set_memory(type(mem).from_official(torch.randn(mem.num_classes, 3, m.audio_dim)))
    return m
