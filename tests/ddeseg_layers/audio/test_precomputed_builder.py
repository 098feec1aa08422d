"""Cached features, the AVSBench .pkl reader and build_audio_backbone."""

import pickle

import numpy as np
import pytest
import torch

from ddeseg_layers.audio import (
    HTSATBackbone,
    PrecomputedAudio,
    VGGishBackbone,
    build_audio_backbone,
    load_avsbench_logmel,
)


def test_precomputed_validates_features():
    m = PrecomputedAudio(dim=8)
    assert m.out_dim == 8 and m.sample_rate is None
    x = torch.randn(3, 8)
    assert m(x) is x
    with pytest.raises(ValueError, match=r"\[B, 8\]"):
        m(torch.randn(3, 7))
    with pytest.raises(ValueError, match="NaN or inf"):
        m(torch.tensor([[float("nan")] * 8]))
    with pytest.raises(TypeError, match="floating point"):
        m(torch.zeros(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="positive"):
        PrecomputedAudio(dim=0)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # the plain pickle below
def test_avsbench_pkl_reader(tmp_path):
    good = torch.randn(5, 1, 96, 64)
    p = tmp_path / "clip.pkl"
    torch.save(good, p)
    torch.testing.assert_close(load_avsbench_logmel(p), good)
    with pytest.raises(ValueError, match=r"shape \(5, 1, 96, 64\), expected \(4, 1, 96, 64\)"):
        load_avsbench_logmel(p, expected_shape=(4, 1, 96, 64))
    plain = tmp_path / "plain.pkl"
    with open(plain, "wb") as fh:
        pickle.dump(np.zeros((5, 1, 96, 64)), fh)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_avsbench_logmel(plain)
    bad = tmp_path / "nan.pkl"
    torch.save(torch.full((5, 1, 96, 64), float("inf")), bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        load_avsbench_logmel(bad)
    with pytest.raises(FileNotFoundError, match="nowhere.pkl"):
        load_avsbench_logmel(tmp_path / "nowhere.pkl")


def test_builder_types_and_contract():
    v = build_audio_backbone({"type": "vggish", "size": "tiny"})
    assert isinstance(v, VGGishBackbone) and v.out_dim == 32 and v.sample_rate == 16000 and v.frozen
    h = build_audio_backbone({"type": "htsat", "size": "tiny", "frozen": False})
    assert isinstance(h, HTSATBackbone) and h.out_dim == 192 and not h.frozen
    assert any(p.requires_grad for p in h.parameters())
    p = build_audio_backbone({"type": "precomputed", "dim": 128})
    assert p.out_dim == 128 and p.sample_rate is None
    wav = torch.randn(2, 16000) * 0.1
    assert v(wav).shape == (2, 32) and h(wav).shape == (2, 192)
    cfg = {"type": "vggish", "size": "tiny"}
    build_audio_backbone(cfg)
    assert cfg == {"type": "vggish", "size": "tiny"}  # the caller's dict is not consumed


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"type": "wav2vec"}, "must be one of"),
        ({"type": "vggish", "size": "huge"}, "size must be"),
        ({"type": "vggish", "nonsense": 1}, "bad option"),
        ({"type": "precomputed"}, "needs cfg\\['dim'\\]"),
        ({"type": "precomputed", "dim": 4, "checkpoint": "x.pth"}, "no checkpoint"),
        ({"type": "htsat", "variant": "ddeseg"}, "variant must be"),
    ],
)
def test_builder_rejects_bad_config(cfg, message):
    with pytest.raises(ValueError, match=message):
        build_audio_backbone(cfg)
