"""Front ends: VGGish log-mel vs a literal numpy VGGish recipe; HTS-AT conv-STFT and Slaney mel vs oracles."""

import math

import numpy as np
import pytest
import torch
import torchaudio

from ddeseg_layers.audio.frontends import (
    ConvSpectrogram,
    LogMelFilterBank,
    VGGishLogMel,
    slaney_mel_matrix,
    vggish_mel_matrix,
)


# ---------------------------------------------------------------- literal numpy VGGish recipe (mel_features.py)
def np_frame(data, window_length, hop_length):
    num_frames = 1 + int(np.floor((data.shape[0] - window_length) / hop_length))
    return np.stack([data[i * hop_length : i * hop_length + window_length] for i in range(num_frames)])


def np_periodic_hann(n):
    return 0.5 - (0.5 * np.cos(2 * np.pi / n * np.arange(n)))


def np_hertz_to_mel(f):
    return 1127.0 * np.log(1.0 + (f / 700.0))


def np_spectrogram_to_mel_matrix(num_mel_bins, num_spectrogram_bins, audio_sample_rate, lower, upper):
    nyquist = audio_sample_rate / 2.0
    bins_mel = np_hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(np_hertz_to_mel(lower), np_hertz_to_mel(upper), num_mel_bins + 2)
    m = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lo, ce, up = edges[i : i + 3]
        m[:, i] = np.maximum(0.0, np.minimum((bins_mel - lo) / (ce - lo), (up - bins_mel) / (up - ce)))
    m[0, :] = 0.0
    return m


def np_vggish_examples(wav, sr=16000):
    win = int(round(sr * 0.025))
    hop = int(round(sr * 0.010))
    fft_length = 2 ** int(np.ceil(np.log(win) / np.log(2.0)))
    frames = np_frame(wav, win, hop) * np_periodic_hann(win)
    spec = np.abs(np.fft.rfft(frames, int(fft_length)))
    mel = spec @ np_spectrogram_to_mel_matrix(64, spec.shape[1], sr, 125.0, 7500.0)
    log_mel = np.log(mel + 0.01)
    n_ex = int(round(0.96 * 100))
    return np_frame(log_mel, n_ex, n_ex)


def tone(seconds, sr=16000, freqs=(440.0, 1234.5), seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs) + 0.01 * rng.standard_normal(t.shape)
    return x


@pytest.mark.parametrize("seconds", [1.0, 2.5])  # one example; several examples with a ragged tail
def test_vggish_logmel_matches_numpy_recipe_float64(seconds):
    wav = tone(seconds)
    ref = np_vggish_examples(wav)
    out = VGGishLogMel(dtype=torch.float64)(torch.from_numpy(wav))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-10)


def test_vggish_logmel_float32_and_batched():
    wavs = np.stack([tone(2.0, seed=0), tone(2.0, freqs=(300.0,), seed=1)])
    out = VGGishLogMel()(torch.from_numpy(wavs).float())
    assert out.shape == (2, 2, 96, 64) and out.dtype == torch.float32
    for b in range(2):
        np.testing.assert_allclose(out[b].numpy(), np_vggish_examples(wavs[b]), rtol=0, atol=2e-4)


def test_vggish_frame_count_has_no_centre_padding():
    fe = VGGishLogMel()
    for n in (15600, 15759, 15760, 32000):
        assert fe.log_mel(torch.zeros(n)).shape[0] == 1 + (n - 400) // 160
    assert fe.min_samples == 15600
    with pytest.raises(ValueError, match="15600"):
        fe(torch.zeros(15599))
    padded = VGGishLogMel(pad_short=True)(torch.zeros(8000))
    assert padded.shape == (1, 96, 64)
    np.testing.assert_allclose(padded.numpy(), math.log(0.01), atol=1e-6)  # silence -> log(offset)


def test_vggish_mel_matrix_equals_recipe_and_differs_from_torchaudio():
    ours = vggish_mel_matrix()
    ref = np_spectrogram_to_mel_matrix(64, 257, 16000, 125.0, 7500.0)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-12)
    assert torch.all(ours[0] == 0)
    ta = torchaudio.functional.melscale_fbanks(257, 125.0, 7500.0, 64, 16000, norm=None, mel_scale="htk").double()
    # same corner frequencies, but torchaudio's triangles are linear in Hz, the recipe's linear in mel
    diff = (ta - ours).abs().max().item()
    assert 1e-3 < diff < 0.2
    fe = VGGishLogMel(mel_impl="torchaudio")
    torch.testing.assert_close(fe.mel_matrix.double(), ta.float().double())


def test_vggish_logmel_rejects_bad_input():
    fe = VGGishLogMel()
    with pytest.raises(TypeError, match="floating point"):
        fe(torch.zeros(16000, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        fe(torch.zeros(1, 1, 16000))
    with pytest.raises(ValueError, match="mel_impl"):
        VGGishLogMel(mel_impl="librosa")


# ------------------------------------------------------------------------------------------- HTS-AT front end
def test_conv_spectrogram_matches_torch_stft():
    x = torch.from_numpy(tone(0.5, sr=32000)).double()[None]
    spec = ConvSpectrogram(1024, 320, dtype=torch.float64)(x)  # [1, 1, frames, 513]
    ref = torch.stft(x, 1024, 320, window=torch.hann_window(1024, dtype=torch.float64), center=True,
                     pad_mode="reflect", return_complex=True).abs() ** 2  # fmt: skip
    assert spec.shape == (1, 1, 1 + 16000 // 320, 513)
    torch.testing.assert_close(spec[0, 0], ref[0].T, rtol=1e-9, atol=1e-9)


def _np_slaney_hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, lin)


def _np_slaney_mel_to_hz(m):
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * 200.0 / 3)


def np_librosa_mel(sr, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel defaults (htk=False, norm='slaney'), written from its documented formula."""
    fftfreqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = _np_slaney_mel_to_hz(np.linspace(_np_slaney_hz_to_mel(fmin), _np_slaney_hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    w = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        w[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    w *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w.T


def test_htsat_melw_default_is_librosa_slaney():
    ours = slaney_mel_matrix(32000, 1024, 64, 50.0, 14000.0, dtype=torch.float64)
    np.testing.assert_allclose(
        ours.numpy(), np_librosa_mel(32000, 1024, 64, 50.0, 14000.0), rtol=1e-5, atol=1e-7
    )  # torchaudio builds it in float32
    fb = LogMelFilterBank()
    assert fb.melW.shape == (513, 64)
    spec = torch.rand(2, 1, 7, 513)
    torch.testing.assert_close(fb(spec), 10 * torch.log10(torch.clamp(spec @ fb.melW, min=1e-10)))
    assert torch.all(fb(torch.zeros(1, 513)) == -100.0)  # amin 1e-10 floor
