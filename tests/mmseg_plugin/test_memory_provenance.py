"""Memory provenance: a built memory records the audio encoder that produced it; AVSSegmentor refuses another one."""

import warnings

import pytest
import torch

from ddeseg_layers.audio import build_audio_backbone
from ddeseg_layers.memory import (
    OFFICIAL_BANK_TAG,
    SemanticMemory,
    audio_encoder_fingerprint,
    check_provenance,
)

TINY_AUDIO = dict(type="htsat", size="tiny", frozen=True)


def _net(audio: dict) -> dict:
    return dict(
        num_classes=4,
        encoder=dict(embed_dims=(16, 16, 32, 32), num_heads=(1, 1, 2, 2), depths=(1, 1, 1, 1), sr_ratios=(4, 2, 1, 1)),
        audio=audio,
        memory=dict(num_classes=4, num_reps=2),
        derivation=dict(num_neighbors=2),
        elimination=dict(num_heads=2, num_centers=3),
        head=dict(embed_dim=32),
    )


def _segmentor(audio: dict, memory_path=None, **kw):
    import mmseg_plugin.models  # noqa: F401  (registers AVSSegmentor and the losses)
    from mmseg_plugin.models.segmentor import AVSSegmentor

    return AVSSegmentor(
        net=_net(audio),
        losses=[dict(type="AVSCrossEntropyLoss", loss_weight=1.0, loss_name="loss_ce")],
        semantic_memory_path=memory_path,
        data_preprocessor=dict(type="AVSDataPreprocessor", mean=[0, 0, 0], std=[1, 1, 1]),
        **kw,
    )


def _encoder_file(tmp_path, seed: int) -> str:
    torch.manual_seed(seed)
    enc = build_audio_backbone(TINY_AUDIO)
    path = tmp_path / f"encoder_{seed}.pth"
    torch.save(enc.net.state_dict(), path)
    return str(path)


def _memory_file(tmp_path, encoder_path: str) -> str:
    enc = build_audio_backbone(dict(TINY_AUDIO, checkpoint=encoder_path))
    feats = torch.randn(16, enc.out_dim)
    mem = SemanticMemory.build(feats, torch.arange(16) % 4, num_clusters=2, num_reps=1, num_classes=4)
    mem.provenance = dict(encoder=audio_encoder_fingerprint(enc), checkpoint=encoder_path)
    path = tmp_path / "memory.pth"
    mem.save(path)
    return str(path)


def test_fingerprint_tracks_weights_and_frontend(tmp_path):
    a = build_audio_backbone(dict(TINY_AUDIO, checkpoint=_encoder_file(tmp_path, 0)))
    b = build_audio_backbone(dict(TINY_AUDIO, checkpoint=_encoder_file(tmp_path, 0)))
    fa, fb = audio_encoder_fingerprint(a), audio_encoder_fingerprint(b)
    assert fa == fb and fa["kind"] == "HTSATBackbone" and fa["frontend"]["sample_rate"] == 16000
    with torch.no_grad():
        b.net.norm.weight.add_(1e-3)
    assert audio_encoder_fingerprint(b)["weights"] != fa["weights"]
    mem = SemanticMemory.empty(4, 2, a.out_dim)
    mem.provenance = dict(encoder=fa)
    assert check_provenance(mem, a) is None
    assert "HTSATBackbone weights" in check_provenance(mem, b)
    saved = tmp_path / "m.pth"
    mem.save(saved)
    assert SemanticMemory.load(saved).provenance == mem.provenance  # survives save / load (weights-only)


def test_segmentor_refuses_a_memory_built_by_another_encoder(tmp_path):
    built_by = _encoder_file(tmp_path, 0)
    other = _encoder_file(tmp_path, 1)
    memory = _memory_file(tmp_path, built_by)
    seg = _segmentor(dict(TINY_AUDIO, checkpoint=built_by), memory)  # the encoder that built it: accepted
    assert seg.net.memory.provenance["checkpoint"] == built_by
    with pytest.raises(ValueError) as err:
        _segmentor(dict(TINY_AUDIO, checkpoint=other), memory)
    msg = str(err.value)
    assert memory in msg and built_by in msg and "the model runs HTSATBackbone" in msg
    assert "allow_memory_encoder_mismatch" in msg
    with pytest.warns(UserWarning, match="allowed by allow_memory_encoder_mismatch"):
        _segmentor(dict(TINY_AUDIO, checkpoint=other), memory, allow_memory_encoder_mismatch=True)


def test_official_bank_carries_its_tag_and_needs_the_official_frontend(tmp_path):
    import numpy as np

    bank = tmp_path / "bank.npy"
    np.save(bank, np.random.default_rng(0).standard_normal((4, 2, 192)).astype("float32"))
    mem = SemanticMemory.from_official(str(bank))
    assert mem.provenance == dict(tag=OFFICIAL_BANK_TAG, source="bank.npy")
    tiny_official = dict(TINY_AUDIO, variant="official")
    assert check_provenance(mem, build_audio_backbone(tiny_official)) is None
    assert "released bank" in check_provenance(mem, build_audio_backbone(TINY_AUDIO))
    with pytest.raises(ValueError, match="bank.npy.*released bank"):
        _segmentor_with_bank(TINY_AUDIO, bank)
    _segmentor_with_bank(tiny_official, bank)


def _segmentor_with_bank(audio, bank):
    import mmseg_plugin.models  # noqa: F401
    from mmseg_plugin.models.segmentor import AVSSegmentor

    net = _net(audio)
    net["pretrained"] = dict(memory=str(bank))
    return AVSSegmentor(
        net=net,
        losses=[dict(type="AVSCrossEntropyLoss", loss_weight=1.0, loss_name="loss_ce")],
        data_preprocessor=dict(type="AVSDataPreprocessor", mean=[0, 0, 0], std=[1, 1, 1]),
    )


def test_memory_without_provenance_loads_with_a_warning(tmp_path):
    enc = _encoder_file(tmp_path, 0)
    mem = SemanticMemory.build(torch.randn(8, 192), torch.arange(8) % 4, num_clusters=2, num_reps=1, num_classes=4)
    path = tmp_path / "legacy.pth"
    mem.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _segmentor(dict(TINY_AUDIO, checkpoint=enc), str(path))
    assert any("records no audio-encoder provenance" in str(w.message) for w in caught)
