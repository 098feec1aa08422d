"""mmseg_plugin.audio_io: sample-exact windows, resampling, channel rules, pad rules, error messages, safe .pkl."""

import math
import os
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from mmseg_plugin.audio_io import (
    AudioReadError,
    ClipCache,
    center_window,
    cut_window,
    load_tensor_file,
    load_window,
    read_wav,
    to_channels,
)

pytestmark = pytest.mark.mmseg


def _ramp_wav(path, n, sr=16000, channels=1):
    """Sample k of channel c holds (k + 1 + c * n) / 2**20 (exactly representable float32, unique per sample)."""
    x = (np.arange(n, dtype=np.float64)[None] + 1 + np.arange(channels)[:, None] * n) / 2**20
    sf.write(path, x.T.astype(np.float32), sr, subtype="FLOAT")
    return x.astype(np.float32)


def test_window_boundaries_are_sample_exact(tmp_path):
    p = str(tmp_path / "ramp.wav")
    x = _ramp_wav(p, 5 * 16000)
    for i in range(5):
        win, info = load_window(p, float(i), float(i + 1), sample_rate=16000)
        assert win.shape == (1, 16000)
        np.testing.assert_array_equal(win[0], x[0, i * 16000 : (i + 1) * 16000])
        assert info["start_sample"] == i * 16000 and info["num_padded"] == 0
    # a fractional window: [0.5, 1.25) s -> samples 8000 .. 19999
    win, info = load_window(p, 0.5, 1.25, sample_rate=16000)
    np.testing.assert_array_equal(win[0], x[0, 8000:20000])


def test_pad_rules_past_the_end(tmp_path):
    sr = 100
    wave = np.arange(1, 251, dtype=np.float32)[None]  # 2.5 s at 100 Hz
    # zero: second 2 has 50 real samples then 50 zeros
    win, info = cut_window(wave, sr, 2.0, 3.0, "zero")
    assert info["num_padded"] == 50
    assert np.array_equal(win[0, :50], wave[0, 200:250]) and np.array_equal(win[0, 50:], np.zeros(50))
    # repeat_last_second: samples past the end tile the clip's last second (samples 150..249)
    win, _ = cut_window(wave, sr, 2.0, 3.0, "repeat_last_second")
    assert np.array_equal(win[0, 50:], wave[0, 150:200])
    win, info = cut_window(wave, sr, 4.0, 5.0, "repeat_last_second")  # fully past the end
    assert info["num_padded"] == 100
    assert np.array_equal(win[0], np.concatenate([wave[0, 200:250], wave[0, 150:200]]))
    # tile: the clip loops from its start
    win, _ = cut_window(wave, sr, 2.0, 3.0, "tile")
    assert np.array_equal(win[0, 50:], wave[0, :50])
    with pytest.raises(ValueError, match="pad_mode"):
        cut_window(wave, sr, 0.0, 1.0, "reflect")


def test_center_window_matches_cavp_rule():
    sr = 10
    wave = np.arange(100, dtype=np.float32)[None]  # 10 s
    win, info = center_window(wave, sr, 3.0)
    assert info["start_sample"] == (100 - 30) // 2 == 35
    assert np.array_equal(win[0], wave[0, 35:65])
    short = np.arange(20, dtype=np.float32)[None]  # 2 s < 3 s: tiled from the start
    win, info = center_window(short, sr, 3.0, "tile")
    assert np.array_equal(win[0], np.concatenate([short[0], short[0, :10]])) and info["num_padded"] == 10


def test_resampling_rate_and_content(tmp_path):
    sr_in, sr_out, f = 22050, 16000, 440.0
    t = np.arange(sr_in * 2) / sr_in
    p = str(tmp_path / "sine.wav")
    sf.write(p, (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32), sr_in, subtype="FLOAT")
    win, info = load_window(p, 1.0, 2.0, sample_rate=sr_out)
    assert win.shape == (1, sr_out) and info["native_sample_rate"] == sr_in and info["sample_rate"] == sr_out
    spec = np.abs(np.fft.rfft(win[0] * np.hanning(sr_out)))
    peak_hz = float(np.argmax(spec))  # 1-s window: rfft bin k is k Hz
    assert abs(peak_hz - f) <= 1.0
    expected = 0.5 * np.sin(2 * np.pi * f * (np.arange(sr_out) / sr_out + 1.0))
    assert np.abs(win[0][100:-100] - expected[100:-100]).max() < 2e-3


def test_stereo_mono_rules(tmp_path):
    p = str(tmp_path / "st.wav")
    x = _ramp_wav(p, 1000, sr=1000, channels=2)
    mono, _ = load_window(p, 0.0, 1.0, sample_rate=1000, channels="mono")
    np.testing.assert_allclose(mono[0], x.mean(0), rtol=1e-6)
    st, _ = load_window(p, 0.0, 1.0, sample_rate=1000, channels="stereo")
    np.testing.assert_array_equal(st, x)
    pm = str(tmp_path / "mono.wav")
    xm = _ramp_wav(pm, 1000, sr=1000)
    st, _ = load_window(pm, 0.0, 1.0, sample_rate=1000, channels="stereo")
    assert st.shape == (2, 1000) and np.array_equal(st[0], st[1]) and np.array_equal(st[0], xm[0])
    with pytest.raises(AudioReadError, match="3 channels"):
        to_channels(np.zeros((3, 10), np.float32), "stereo", "x.wav")


def test_int16_pcm_is_scaled(tmp_path):
    p = str(tmp_path / "pcm.wav")
    sf.write(p, np.array([0, 16384, -32768], dtype=np.int16), 16000, subtype="PCM_16")
    data, sr = read_wav(p)
    assert sr == 16000 and data.dtype == np.float32
    np.testing.assert_array_equal(data[0], [0.0, 0.5, -1.0])


def test_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "nope.wav")
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        read_wav(missing)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage-not-a-wav")
    with pytest.raises(AudioReadError, match="corrupt.wav"):
        read_wav(str(corrupt))
    empty = str(tmp_path / "empty.wav")
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=r"empty.wav.*no samples"):
        read_wav(empty)
    nan = str(tmp_path / "nan.wav")
    sf.write(nan, np.array([0.1, math.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=r"nan.wav.*non-finite"):
        read_wav(nan)


def test_clip_cache_reads_each_clip_once(tmp_path):
    p = str(tmp_path / "c.wav")
    _ramp_wav(p, 3000, sr=1000)
    cache = ClipCache(2)
    for i in range(3):
        load_window(p, float(i), float(i + 1), sample_rate=1000, cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (1, 2, 1)
    os.remove(p)  # served from the cache after deletion
    win, _ = load_window(p, 2.0, 3.0, sample_rate=1000, cache=cache)
    assert win.shape == (1, 1000)


def test_tensor_pkl_safe_loading(tmp_path):
    x = torch.randn(5, 1, 96, 64)
    p_pickle, p_torch = tmp_path / "a.pkl", tmp_path / "b.pkl"
    with open(p_pickle, "wb") as f:
        pickle.dump(x, f)  # what AVSBench's preprocessing writes
    torch.save(x, p_torch)
    assert torch.equal(load_tensor_file(str(p_pickle)), x)
    assert torch.equal(load_tensor_file(str(p_torch)), x)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    p_evil = tmp_path / "evil.pkl"
    with open(p_evil, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(AudioReadError, match=r"evil.pkl.*refusing to unpickle global"):
        load_tensor_file(str(p_evil))
    p_dict = tmp_path / "dict.pkl"
    torch.save({"a": x}, p_dict)
    with pytest.raises(AudioReadError, match=r"dict.pkl holds a dict"):
        load_tensor_file(str(p_dict))
