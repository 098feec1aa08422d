"""An audio-only clip set for audio pre-training: the synthetic analogue of AudioSet pre-training.

No paper equation. The paper's audio encoders start from AudioSet weights (HTS-AT, VGGish) and meet thousands of
sources per class before they see an AVS clip; the harder set (:mod:`.hard`) trains its stage-1 encoder on 32
voices, and the tagger's errors on unseen voices are most of the listening gap (docs/training.md, "Stage 'audio
pre-training'"). This module draws an *independent* tagging set of the harder set's words (:mod:`.hard_audio`):
every clip mixes 0-``max_sources`` words said by voices of its own large voice pool, reverberated and noised like
the harder set's clips, with the multi-hot list of the words heard. It shares no voice, clip or random stream with
any split of the harder set: its generator is seeded with ``[seed, VOICE_STREAM, ...]``, a stream tag that the
harder set's generator (1000-4002) and the sprite set (9000) do not use.

No images, no on-screen / off-screen distinction: only "which words are heard" (AudioSet's weak labels). Waveforms
are float32 ``[N, seconds * sample_rate]`` at RMS 0.08 (peaks clipped to 0.95, as the harder set writes its WAVs),
labels uint8 ``[N, num_classes]`` (label ``c`` = word ``c`` = the harder set's class ``c + 1``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Tuple

import numpy as np

from .hard_audio import NUM_WORDS, draw_voice, room_and_noise, word_stream

__all__ = ["VoiceClipConfig", "VOICE_STREAM", "generate_voice_clips"]

VOICE_STREAM = 9100  # stream tag; the harder set uses 1000-4002, the sprite images 9000


@dataclass(frozen=True)
class VoiceClipConfig:
    """Parameters of :func:`generate_voice_clips`."""

    num_clips: int = 6000
    num_voices: int = 1000  # the pool every clip draws its voices from (the harder set's train split has 32)
    seed: int = 0
    sample_rate: int = 16000
    seconds: float = 1.0  # one frame's audio window of the harder set
    num_classes: int = NUM_WORDS
    max_sources: int = 3
    silent_fraction: float = 0.05  # clips with no word at all (room noise only)

    def validate(self) -> None:
        if self.num_clips < 1:
            raise ValueError(f"voice clips: num_clips must be >= 1, got {self.num_clips}")
        if not 2 <= self.num_classes <= NUM_WORDS:
            raise ValueError(f"voice clips: num_classes must be in [2, {NUM_WORDS}], got {self.num_classes}")
        if not 1 <= self.max_sources <= self.num_classes:
            raise ValueError(
                f"voice clips: max_sources must be in [1, num_classes={self.num_classes}], got {self.max_sources}"
            )
        if self.num_voices < self.max_sources:
            raise ValueError(f"voice clips: num_voices ({self.num_voices}) must be >= max_sources ({self.max_sources})")
        if not 0.0 <= self.silent_fraction < 1.0:
            raise ValueError(f"voice clips: silent_fraction must be in [0, 1), got {self.silent_fraction}")
        if not 0.25 <= self.seconds <= 10.0:
            raise ValueError(f"voice clips: seconds must be in [0.25, 10], got {self.seconds}")
        if self.sample_rate < 8000:
            raise ValueError(f"voice clips: sample_rate must be >= 8000, got {self.sample_rate}")


def generate_voice_clips(**params) -> Tuple[np.ndarray, np.ndarray, dict]:
    """Draw the set; returns ``(waves float32 [N, n], labels uint8 [N, num_classes], info)``.

    ``params`` are :class:`VoiceClipConfig` fields. Clip ``k`` draws ``1..max_sources`` distinct words (or none, with
    probability ``silent_fraction``), each from a distinct voice of the pool, mixed at -6..+6 dB, then
    :func:`~.hard_audio.room_and_noise`. ``info`` records the parameters and per-class clip counts. Deterministic
    from ``seed`` (voice ``i`` from ``[seed, VOICE_STREAM, 0, i]``, clip ``k`` from ``[seed, VOICE_STREAM, 1, k]``).
    """
    cfg = VoiceClipConfig(**params)
    cfg.validate()
    sr, K = cfg.sample_rate, cfg.num_classes
    n = int(round(cfg.seconds * sr))
    voices = [draw_voice(np.random.default_rng([cfg.seed, VOICE_STREAM, 0, i]), sr) for i in range(cfg.num_voices)]
    waves = np.empty((cfg.num_clips, n), dtype=np.float32)
    labels = np.zeros((cfg.num_clips, K), dtype=np.uint8)
    for k in range(cfg.num_clips):
        rng = np.random.default_rng([cfg.seed, VOICE_STREAM, 1, k])
        n_src = 0 if rng.uniform() < cfg.silent_fraction else int(rng.integers(1, cfg.max_sources + 1))
        words = rng.choice(K, size=n_src, replace=False)
        who = rng.choice(cfg.num_voices, size=n_src, replace=False)
        mix = np.zeros(n)
        for c, v in zip(words, who):
            mix += 10 ** (rng.uniform(-6, 6) / 20) * word_stream(voices[int(v)], int(c), rng, n, sr)
            labels[k, int(c)] = 1
        audio, _ = room_and_noise(mix, rng, sr)
        audio *= 0.08 / (np.sqrt(np.mean(audio**2)) + 1e-12)
        peak = np.abs(audio).max()
        if peak > 0.95:
            audio *= 0.95 / peak
        waves[k] = audio
    info = dict(asdict(cfg), clips_per_class=[int(v) for v in labels.sum(0)])
    return waves, labels, info
