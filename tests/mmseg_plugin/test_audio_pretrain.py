"""Stage "audio_pretrain" of the recipe (mmseg_plugin/audio_pretrain.py) and its voice-clip set
(mmseg_plugin/synthetic/voice_clips.py): determinism and independence of the set, settings, the tagger's training
and mAP on hand-made features, the checkpoint's load into stage 1's encoder, and the pipeline's wiring."""

import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmseg_plugin.audio_pretrain import (
    AUDIO_PRETRAIN_DEFAULTS,
    audio_pretrain_settings,
    pretrain_audio_encoder,
    tagger_map,
    train_tagger,
)
from mmseg_plugin.synthetic.voice_clips import VOICE_STREAM, generate_voice_clips

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARD = os.path.join(REPO, "configs", "ddeseg_synthetic_hard.py")
TINY = dict(num_clips=24, num_voices=8, iters=3, batch_size=4, warmup_iters=1)


def _cfg(**ap):
    cfg = Config.fromfile(HARD)
    cfg.audio_pretrain = dict(TINY, **ap)
    return cfg


def test_voice_clips_are_deterministic_labelled_and_levelled():
    w, y, info = generate_voice_clips(num_clips=40, num_voices=10, seed=3)
    w2, y2, _ = generate_voice_clips(num_clips=40, num_voices=10, seed=3)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(y, y2)
    w3, _, _ = generate_voice_clips(num_clips=40, num_voices=10, seed=4)
    assert not np.allclose(w, w3)
    assert w.shape == (40, 16000) and w.dtype == np.float32 and y.shape == (40, 12)
    assert set(np.unique(y)) <= {0, 1} and y.sum(1).max() <= 3
    assert info["clips_per_class"] == y.sum(0).tolist()
    rms = np.sqrt((w.astype(np.float64) ** 2).mean(1))
    assert np.all(rms <= 0.0801) and np.all(rms > 0.02)  # RMS 0.08 unless a peak was clipped to 0.95
    assert np.abs(w).max() <= 0.95 + 1e-6
    # every clip carries 1..3 words except the silent fraction; mostly silent when asked for
    _, ys, _ = generate_voice_clips(num_clips=40, num_voices=10, seed=3, silent_fraction=0.9)
    assert (ys.sum(1) == 0).sum() >= 25
    _, y4, _ = generate_voice_clips(num_clips=30, num_voices=10, num_classes=4, max_sources=1, silent_fraction=0.0)
    assert y4.shape == (30, 4) and np.all(y4.sum(1) == 1)


def test_voice_pool_is_independent_of_the_harder_set():
    """The stream tag is not one of the harder set's (1000-4002) or the sprite set's (9000): no voice is shared."""
    from mmseg_plugin.synthetic.hard import HardSyntheticConfig, _pools
    from mmseg_plugin.synthetic.hard_audio import draw_voice

    assert VOICE_STREAM not in (9000,) and not 1000 <= VOICE_STREAM <= 4002
    hard_voices, _ = _pools(HardSyntheticConfig(seed=0))
    f0s = {round(v.f0, 9) for split in hard_voices.values() for v in split}
    pool = [draw_voice(np.random.default_rng([0, VOICE_STREAM, 0, i])) for i in range(200)]
    assert not f0s & {round(v.f0, 9) for v in pool}


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(num_clips=0), "num_clips must be >= 1"),
        (dict(num_classes=13), "num_classes must be in"),
        (dict(max_sources=0), "max_sources must be in"),
        (dict(num_voices=2, max_sources=3), "num_voices"),
        (dict(silent_fraction=1.0), "silent_fraction"),
    ],
)
def test_voice_clip_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        generate_voice_clips(**dict(dict(num_clips=2, num_voices=4), **bad))


def test_settings_defaults_and_errors():
    assert audio_pretrain_settings(Config.fromfile(os.path.join(REPO, "configs", "ddeseg_synthetic.py"))) is None
    ap = audio_pretrain_settings(_cfg())
    assert ap["iters"] == 3 and ap["lr"] == AUDIO_PRETRAIN_DEFAULTS["lr"] and ap["generator"] == {}
    with pytest.raises(ValueError, match="unknown audio_pretrain keys"):
        audio_pretrain_settings(_cfg(epochs=3))
    with pytest.raises(ValueError, match="iters must be >= 1"):
        audio_pretrain_settings(_cfg(iters=0))
    with pytest.raises(ValueError, match="warmup_iters must be below"):
        audio_pretrain_settings(_cfg(warmup_iters=3))
    cfg = _cfg()
    cfg.audio_classifier = None
    with pytest.raises(ValueError, match="needs the stage-1 encoder"):
        audio_pretrain_settings(cfg)


def test_tagger_learns_a_separable_set_and_not_a_shuffled_one():
    """On hand-made features: labels that are a function of the input reach ~100 % held-out mAP; the same labels
    shuffled against the inputs stay near chance (the positive rate)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 16, generator=g)
    y = (x[:, :4] > 0.5).float()  # 4 independent tags, each read off one input dimension
    perm = torch.randperm(600, generator=g)

    def fit(labels):
        torch.manual_seed(0)
        enc, head = nn.Sequential(nn.Linear(16, 32), nn.ReLU()), nn.Linear(32, 4)
        train_tagger(enc, head, x[:400], labels[:400], iters=300, lr=1e-2, batch_size=32, seed=0, warmup_iters=5)
        return tagger_map(enc, head, x[400:], y[400:])

    assert fit(y) > 97.0
    chance = 100 * float(y[400:].mean())
    assert abs(fit(y[perm]) - chance) < 12.0


def test_pretrained_weights_load_into_the_stage1_encoder(tmp_path):
    from ddeseg_layers.audio import build_audio_backbone

    out = str(tmp_path / "audio_pretrained.pth")
    report = pretrain_audio_encoder(_cfg(), out)
    assert report["audio_pretrain_iters"] == 3 and report["audio_pretrain_stream"] == VOICE_STREAM
    assert 0.0 <= report["audio_pretrain_heldout_mAP"] <= 100.0
    assert len(report["audio_pretrain_clips_per_class"]) == 12
    sd = torch.load(out, weights_only=True)
    enc = build_audio_backbone(dict(type="logmel_cnn", frozen=False, checkpoint=out))
    for k, v in enc.net.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)


def test_pretraining_learns_something(tmp_path):
    """A few dozen iterations lower the BCE well below its start (ln 2 = 0.69 at random init)."""
    report = pretrain_audio_encoder(_cfg(num_clips=64, iters=40, batch_size=16, lr=3e-3), str(tmp_path / "a.pth"))
    assert report["audio_pretrain_last_loss"] < 0.45


def test_pipeline_runs_the_stage_caches_it_and_starts_stage1_from_it(tmp_path, monkeypatch, tool):
    from mmseg_plugin.apis import pipeline

    leaf = tmp_path / "tiny_audio_pretrain.py"
    leaf.write_text(f"_base_ = [{HARD!r}]\nvisual_pretrain = None\naudio_pretrain = {TINY!r}\n")
    monkeypatch.setattr(pipeline, "stage_data", lambda cfg: dict(train=1, val=1, test=1, classes=["bg", "a"]))
    monkeypatch.setattr(pipeline, "apply_avss_classes", lambda cfg: None)
    main = tool("run_pipeline").main
    wd = tmp_path / "wd"
    summary = main([str(leaf), "--work-dir", str(wd), "--stop-after", "audio_pretrain"])
    ckpt = wd / "audio_pretrained.pth"
    assert ckpt.is_file() and summary["audio_pretrain_stage"]["audio_pretrain_iters"] == 3
    assert json.loads((wd / "audio_pretrained.pth.json").read_text())["audio_pretrained"] == str(ckpt)
    mtime = ckpt.stat().st_mtime_ns
    summary = main([str(leaf), "--work-dir", str(wd), "--stop-after", "audio_pretrain"])  # cached
    assert ckpt.stat().st_mtime_ns == mtime and summary["audio_pretrain_stage"]["audio_pretrain_iters"] == 3
    # stage 1 starts from the stage's weights: its runner builds the encoder with them
    seen = {}

    def fake_train(rcfg):
        seen["checkpoint"] = rcfg.model.audio.checkpoint
        raise RuntimeError("stop here")

    monkeypatch.setattr("mmseg_plugin.audio_stage.train_audio_classifier", fake_train)
    with pytest.raises(RuntimeError, match="stop here"):
        main([str(leaf), "--work-dir", str(wd), "--stop-after", "audio"])
    assert seen["checkpoint"] == str(ckpt)
