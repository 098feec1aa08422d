"""Sounds of the harder synthetic set: class = a temporal "word", source = a "voice"; pitch and timbre carry no class.

No paper equation. Pure numpy. All waveforms are float64 [n] at ``sr`` Hz (16 kHz by default).

- **Elements** (syllables), each defined relative to the speaking voice (nominal durations at speed 1):
  ``A`` steady voiced vowel at f0 (70 ms, vowel 1); ``B`` voiced rise f0 -> 1.6 f0 (80 ms, vowel 2);
  ``C`` fricative noise burst in the voice's own band (60 ms); ``D`` voiced fall 1.7 f0 -> 0.95 f0 (80 ms, vowel 1).
- **Words** (classes): every word says each element exactly once, so any order-free statistic (mean spectrum,
  pitch histogram, loudness) has the same distribution for every class. A class is one of the 6 cyclic orders of
  ABCD (words repeat, so only the cyclic order is observable) times one of 2 rhythms (the long 90-ms gap after the
  first or after the second element; the other two gaps are 15 ms): 12 words, ~0.41 s at speed 1.
- **Voices** (sources): base pitch f0 (log-uniform 90-320 Hz), two vowels (3 formants each), spectral tilt,
  breathiness, fricative band, speaking speed (0.85-1.2), vibrato. A voice may say any word; each split draws its
  own voice pool, so test voices are never heard in training.
- **Streams**: a source repeats its word through the clip from a random offset, with a random 120-250 ms pause
  between repetitions and per-repetition jitter (rate / pitch +-4 % by resampling, gain +-2 dB), unit RMS.
- **Room**: :func:`room_and_noise` adds an exponentially decaying reverberation tail and coloured (1/f^beta)
  background noise at a random SNR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import numpy as np

__all__ = ["NUM_WORDS", "ELEMENTS", "word_spec", "Voice", "draw_voice", "speak_word", "word_stream",
           "room_and_noise"]  # fmt: skip

ELEMENTS = ("A", "B", "C", "D")
ELEMENT_MS = {"A": 70.0, "B": 80.0, "C": 60.0, "D": 80.0}
SHORT_GAP_MS, LONG_GAP_MS = 15.0, 90.0
PAUSE_MS = (120.0, 250.0)
# the 6 cyclic orders of ABCD (A first): distinct as repeating sequences, reversals included
_ORDERS = ("ABCD", "ABDC", "ACBD", "ACDB", "ADBC", "ADCB")
_RHYTHMS = ((LONG_GAP_MS, SHORT_GAP_MS, SHORT_GAP_MS), (SHORT_GAP_MS, LONG_GAP_MS, SHORT_GAP_MS))
NUM_WORDS = len(_ORDERS) * len(_RHYTHMS)


def word_spec(c: int) -> Tuple[str, Tuple[float, float, float]]:
    """Word of class ``c`` (0-based): (element order, the three within-word gaps in ms at speed 1)."""
    if not 0 <= c < NUM_WORDS:
        raise ValueError(f"word class must be in [0, {NUM_WORDS}), got {c}")
    # classes 2k and 2k+1 share an order and differ in rhythm, so both order and rhythm must be read
    return _ORDERS[c // 2], _RHYTHMS[c % 2]


@dataclass(frozen=True)
class Voice:
    """A sound source: everything that varies from source to source and says nothing about the class."""

    f0: float  # base pitch, Hz
    vowel1: Tuple[float, float, float]  # formant centres, Hz
    vowel2: Tuple[float, float, float]
    bandwidth: float  # formant bandwidth as a fraction of the centre
    tilt: float  # harmonic amplitude ~ k^-tilt
    breath: float  # aspiration noise level relative to the voiced part
    fric_centre: float  # fricative band centre, Hz
    fric_width: float  # fricative band width as a fraction of the centre
    speed: float  # speaking rate factor (durations / speed)
    vibrato_rate: float  # Hz
    vibrato_depth: float  # relative pitch deviation

    def as_dict(self) -> Dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def draw_voice(rng: np.random.Generator, sr: int = 16000) -> Voice:
    """One voice: log-uniform f0 in 90-320 Hz, random vowels / tilt / breathiness / fricative band / speed."""
    r = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    vowel = lambda: (r(300, 850), r(900, 2300), r(2400, 3600))  # noqa: E731
    return Voice(
        f0=float(np.exp(rng.uniform(np.log(90), np.log(320)))),
        vowel1=vowel(),
        vowel2=vowel(),
        bandwidth=r(0.12, 0.3),
        tilt=r(0.4, 1.2),
        breath=r(0.02, 0.25),
        fric_centre=min(float(np.exp(rng.uniform(np.log(2200), np.log(6500)))), 0.42 * sr),
        fric_width=r(0.2, 0.5),
        speed=r(0.85, 1.2),
        vibrato_rate=r(4.0, 7.0),
        vibrato_depth=r(0.0, 0.02),
    )


def _env(n: int, sr: int, attack_s: float = 0.008, release_s: float = 0.025) -> np.ndarray:
    """Raised-cosine attack / release amplitude envelope [n]."""
    e = np.ones(n)
    a, r = min(n // 2, max(1, int(attack_s * sr))), min(n // 2, max(1, int(release_s * sr)))
    e[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    e[n - r :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
    return e


def _formant_gain(f: np.ndarray, vowel: Tuple[float, float, float], bw: float) -> np.ndarray:
    g = np.full(f.shape, 0.03)
    for amp, fc in zip((1.0, 0.6, 0.35), vowel):
        g += amp * np.exp(-0.5 * ((f - fc) / (bw * fc)) ** 2)
    return g


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, gain_fn) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(size=n))
    spec *= gain_fn(np.fft.rfftfreq(n, 1.0 / sr))
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def _voiced(voice: Voice, rng: np.random.Generator, n: int, sr: int, p0: float, p1: float, vowel) -> np.ndarray:
    """Harmonic element: pitch glides from p0 * f0 to p1 * f0 (log-linear) with vibrato; formant-shaped harmonics."""
    t = np.arange(n) / sr
    f0 = voice.f0 * np.exp(np.linspace(np.log(p0), np.log(p1), n))
    f0 = f0 * (1 + voice.vibrato_depth * np.sin(2 * np.pi * voice.vibrato_rate * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    top = min(7600.0, 0.47 * sr)
    k = np.arange(1, int(top / f0.min()) + 1, dtype=np.float64)[:, None]  # harmonics [K, 1]
    fk = k * f0[None, :]  # [K, n]
    amp = _formant_gain(fk, vowel, voice.bandwidth) * k ** (-voice.tilt) * (fk < top)
    x = np.sum(amp * np.sin(k * phase[None, :] + rng.uniform(0, 2 * np.pi, size=k.shape)), axis=0)
    x /= np.sqrt(np.mean(x**2)) + 1e-12
    breath = _shaped_noise(rng, n, sr, lambda f: _formant_gain(f, vowel, voice.bandwidth * 1.5))
    return x + voice.breath * breath


def _element(voice: Voice, kind: str, rng: np.random.Generator, sr: int) -> np.ndarray:
    n = max(16, int(round(ELEMENT_MS[kind] / 1000.0 / voice.speed * sr)))
    if kind == "A":
        x = _voiced(voice, rng, n, sr, 1.0, 1.0, voice.vowel1)
    elif kind == "B":
        x = _voiced(voice, rng, n, sr, 1.0, 1.6, voice.vowel2)
    elif kind == "D":
        x = _voiced(voice, rng, n, sr, 1.7, 0.95, voice.vowel1)
    elif kind == "C":
        fc, w = voice.fric_centre, voice.fric_width * voice.fric_centre
        x = _shaped_noise(rng, n, sr, lambda f: np.exp(-0.5 * ((f - fc) / w) ** 2))
    else:
        raise ValueError(f"unknown element {kind!r}")
    x = x / (np.sqrt(np.mean(x**2)) + 1e-12)
    return x * _env(n, sr)


def speak_word(voice: Voice, c: int, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """One utterance of word ``c`` by ``voice`` (no leading / trailing silence), float64 [~0.41 s * sr / speed]."""
    order, gaps = word_spec(c)
    parts: List[np.ndarray] = []
    for i, kind in enumerate(order):
        parts.append(_element(voice, kind, rng, sr))
        if i < len(gaps):
            parts.append(np.zeros(int(round(gaps[i] / 1000.0 / voice.speed * sr))))
    return np.concatenate(parts)


def _resample(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (rate and pitch together), linear interpolation."""
    m = max(2, int(round(len(x) / factor)))
    return np.interp(np.linspace(0, len(x) - 1, m), np.arange(len(x)), x)


def word_stream(voice: Voice, c: int, rng: np.random.Generator, n: int, sr: int = 16000) -> np.ndarray:
    """``n`` samples of ``voice`` repeating word ``c`` from a random offset, unit RMS over the whole stream."""
    word = speak_word(voice, c, rng, sr)
    out = np.zeros(n)
    pos = -int(rng.uniform(0, 1) * (len(word) + PAUSE_MS[1] / 1000.0 * sr))
    while pos < n:
        w = _resample(word, float(rng.uniform(0.96, 1.04))) * 10 ** (rng.uniform(-2, 2) / 20)
        a, b = max(pos, 0), min(pos + len(w), n)
        if b > a:
            out[a:b] += w[a - pos : b - pos]
        pos += len(w) + int(rng.uniform(*PAUSE_MS) / 1000.0 / voice.speed * sr)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def room_and_noise(mix: np.ndarray, rng: np.random.Generator, sr: int = 16000) -> Tuple[np.ndarray, Dict[str, float]]:
    """Reverberation (exponential-decay noise tail, RT60 0.1-0.5 s, wet 0.1-0.4) and 1/f^beta background noise
    (beta 0-2) at an SNR of 5-20 dB w.r.t. the reverberant mix. Returns the signal [n] and the drawn parameters."""
    n = len(mix)
    rt60, wet = float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.1, 0.4))
    m = int(rt60 * sr)
    ir = rng.normal(size=m) * np.exp(-6.9 * np.arange(m) / m)
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    size = 1 << int(np.ceil(np.log2(n + m)))
    tail = np.fft.irfft(np.fft.rfft(mix, size) * np.fft.rfft(ir, size), size)[:n]
    y = mix + wet * tail
    beta, snr_db = float(rng.uniform(0.0, 2.0)), float(rng.uniform(5.0, 20.0))
    noise = _shaped_noise(rng, n, sr, lambda f: 1.0 / np.maximum(f, 20.0) ** (beta / 2))
    p_sig = np.mean(y**2)
    y = y + noise * np.sqrt(p_sig / 10 ** (snr_db / 10))
    return y, dict(rt60=rt60, wet=wet, noise_beta=beta, snr_db=snr_db)
