"""The harder built-in synthetic AVS set (``preset="hard"``): an independent second test of the training recipe.

No paper equation. Pure numpy / PIL / soundfile. Written in the same AVSS v1s / v1m layout as the basic set
(:mod:`.avss_writer`; ``labels_visible/`` included) and generated atomically with a manifest (:mod:`.atomic`).
Design (docs/datasets.md, "The harder synthetic set"); everything differs from the basic set (:mod:`.generator`):

- **Classes** (default 12, 4..12): class k is sprite layout ``SPRITE_CLASSES[k]`` (:mod:`.hard_visual`) *and* word k
  (:mod:`.hard_audio`). Sound identity lies only in temporal structure (element order and rhythm); pitch and timbre
  belong to the source ("voice"), drawn independently of the class. Object colour belongs to the instance.
- **Sources and instances**: each split has its own voice pool (``voices_<split>``) and, per class, its own instance
  pool (``instances_<split>``); clips of a split draw only from that split's pools, so val / test voices and object
  instances never occur in training. Pools are listed in ``sources.json``.
- **Frames**: ``image_size`` (128) px JPEG, cluttered textured background with a slow camera pan; objects cover
  ``object_scale`` x U(3 %, 10 %) of the frame each (before occlusion), drift (normal velocity, sd 2.5 px per frame
  per axis), rotate a little per frame, bounce off the edges and occlude each other in a random depth order.
- **Clips**: 5 frames of 1 s, one 16 kHz int16 ``audio.wav``. ``v1s``: one sounding object (sounding every second).
  ``v1m`` (``multi_fraction``): 2-3 sounding objects, each active in a random non-empty subset of the seconds
  (probability ``v1m_activity`` per second), overlapping. Silent on-screen objects: 0-2 per v1s clip, 1-3 per v1m
  clip (about half of all on-screen objects never sound). Off-screen sound (``offscreen_prob``): a class with no
  object on screen, audible in a random non-empty subset of the seconds. All classes in a clip are distinct, so
  the semantic task stays well posed. Sources are mixed at -6..+6 dB, then reverberated and noised
  (:func:`.hard_audio.room_and_noise`).
- **Files**: the AVSS layout, ``clips.json`` (per clip: objects with class, instance, voice, activity, areas;
  the off-screen source; the room) and ``sources.json`` (the voice and instance pools of every split).
- **Class balance**: the first sounding class of clip k of a split is ``cycle[k % num_classes]`` (a per-split
  permutation), the other classes of the clip are random.
- **Deterministic**: clip k of split s draws from ``default_rng([seed, 1000 + s, k])``, voice i from
  ``[seed, 2000 + s, i]``, instance i of class c from ``[seed, 3000 + s, c, i]``, the class cycle from
  ``[seed, 4000 + s]``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Dict, List

import numpy as np

from .atomic import generate_atomically, tree_digest, write_manifest
from .avss_writer import (
    clip_uid,
    make_clip_dirs,
    write_index_png,
    write_jpeg,
    write_label2idx,
    write_metadata,
    write_rgb_label,
    write_wav,
)
from .generator import activity_envelope
from .hard_audio import NUM_WORDS, draw_voice, room_and_noise, word_stream
from .hard_visual import SPRITE_CLASSES, crop_background, draw_instance, render_background, render_sprite

__all__ = ["generate_synthetic_avs_hard", "HardSyntheticConfig", "HARD_GENERATOR_VERSION", "HARD_CLASS_NAMES"]

HARD_GENERATOR_VERSION = "hard-1"
HARD_CLASS_NAMES = SPRITE_CLASSES
NUM_FRAMES = 5  # AVSS v1s / v1m clips have 5 frames
SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
assert len(SPRITE_CLASSES) == NUM_WORDS


@dataclass(frozen=True)
class HardSyntheticConfig:
    """Generator parameters (all recorded in the manifest)."""

    seed: int = 0
    num_classes: int = 12
    image_size: int = 128
    object_scale: float = 1.0
    sample_rate: int = 16000
    num_train: int = 400
    num_val: int = 60
    num_test: int = 150
    voices_train: int = 32
    voices_val: int = 10
    voices_test: int = 16
    instances_train: int = 8  # per class
    instances_val: int = 3
    instances_test: int = 5
    multi_fraction: float = 0.6
    v1m_activity: float = 0.7
    offscreen_prob: float = 0.4
    v1s_train_first_label_only: bool = True
    jpeg_quality: int = 90

    def validate(self) -> None:
        if not 4 <= self.num_classes <= len(SPRITE_CLASSES):
            raise ValueError(f"num_classes must be in [4, {len(SPRITE_CLASSES)}], got {self.num_classes}")
        if self.image_size < 64:
            raise ValueError(f"image_size must be >= 64, got {self.image_size}")
        if not 0.2 <= self.object_scale <= 2.5:
            raise ValueError(f"object_scale must be in [0.2, 2.5] (area 3-10 % of the frame times it), got "
                             f"{self.object_scale}")  # fmt: skip
        if self.sample_rate < 16000:
            raise ValueError(f"sample_rate must be >= 16000 (sounds reach 7.6 kHz), got {self.sample_rate}")
        if min(self.num_train, self.num_val, self.num_test) < 1:
            raise ValueError("every split needs at least one clip")
        if min(self.voices_train, self.voices_val, self.voices_test) < 4:
            raise ValueError("every split needs at least 4 voices (a clip has up to 4 audible sources)")
        if min(self.instances_train, self.instances_val, self.instances_test) < 1:
            raise ValueError("every split needs at least one instance per class")
        for name in ("multi_fraction", "v1m_activity", "offscreen_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def _manifest_params(cfg: HardSyntheticConfig) -> dict:
    return dict(version=HARD_GENERATOR_VERSION, preset="hard", **asdict(cfg))


def _pools(cfg: HardSyntheticConfig) -> tuple:
    voices, instances = {}, {}
    for split in SPLITS:
        code = SPLIT_CODES[split]
        voices[split] = [
            draw_voice(np.random.default_rng([cfg.seed, 2000 + code, i]), cfg.sample_rate)
            for i in range(getattr(cfg, f"voices_{split}"))
        ]
        instances[split] = [
            [
                draw_instance(np.random.default_rng([cfg.seed, 3000 + code, c, i]), c)
                for i in range(getattr(cfg, f"instances_{split}"))
            ]
            for c in range(cfg.num_classes)
        ]
    return voices, instances


def _activity(rng: np.random.Generator, p: float) -> List[bool]:
    act = rng.uniform(size=NUM_FRAMES) < p
    if not act.any():
        act[rng.integers(NUM_FRAMES)] = True
    return [bool(a) for a in act]


def _trajectory(rng: np.random.Generator, S: int, r: float, placed: List[tuple]) -> np.ndarray:
    """Centres [NUM_FRAMES, 2] (y, x) of an object of radius ``r`` px, drifting and bouncing off the edges.

    The start is the first of up to 12 candidates that keeps a distance >= r + r_j to every object already placed
    (``placed``: (start, r_j)), else the candidate farthest from them: objects may still overlap, mostly by motion.
    """
    ext = 1.35 * r
    lo, hi = ext, S - ext
    if hi <= lo:
        lo = hi = S / 2
    best, best_score = None, -1.0
    for _ in range(12):
        cand = rng.uniform(lo, hi, size=2)
        score = min([np.hypot(*(cand - p)) / (r + rj) for p, rj in placed] + [1.0])
        if score > best_score:
            best, best_score = cand, score
        if score >= 1.0:
            break
    pos = best
    vel = rng.normal(0, 2.5, size=2)
    out = []
    for _ in range(NUM_FRAMES):
        out.append(pos.copy())
        pos = pos + vel
        for k in range(2):
            if pos[k] < lo or pos[k] > hi:
                vel[k] = -vel[k]
                pos[k] = np.clip(pos[k], lo, hi)
    return np.asarray(out)


def _draw_clip(
    cfg: HardSyntheticConfig, rng: np.random.Generator, subset: str, voices: list, instances: list, first: int
) -> dict:
    """Objects (class, instance, size, trajectory, rotation, depth, voice, activity), the off-screen source, audio.
    ``first`` is the class of the first sounding object (cycled over the classes for balance); the others are
    random."""
    K, S, sr = cfg.num_classes, cfg.image_size, cfg.sample_rate
    order = [first] + [int(c) for c in rng.permutation(K) if c != first]
    n_sound = 1 if subset == "v1s" else (3 if rng.uniform() < 0.35 else 2)
    n_silent = int(rng.choice([0, 1, 2] if subset == "v1s" else [1, 2, 3], p=[0.25, 0.5, 0.25]))
    has_off = bool(rng.uniform() < cfg.offscreen_prob)
    n_silent = min(n_silent, K - n_sound - int(has_off))
    sounding, silent = order[:n_sound], order[n_sound : n_sound + n_silent]
    offscreen_cls = order[n_sound + n_silent] if has_off else None
    n_audible = n_sound + int(has_off)
    voice_ids = [int(v) for v in rng.choice(len(voices), size=n_audible, replace=False)]
    objects, placed = [], []
    for j, c in enumerate(sounding + silent):
        inst_id = int(rng.integers(len(instances[c])))
        inst = instances[c][inst_id]
        area = cfg.object_scale * rng.uniform(0.03, 0.10)
        r = float(np.sqrt(area * S * S / inst.fill))
        is_sounding = j < n_sound
        if not is_sounding:
            act = [False] * NUM_FRAMES
        else:
            act = _activity(rng, cfg.v1m_activity) if subset == "v1m" else [True] * NUM_FRAMES
        objects.append(dict(
            cls=c, instance=inst_id, r=r, target_area=float(area), centres=_trajectory(rng, S, r, placed),
            ang=float(rng.uniform(0, 2 * np.pi)), spin=float(rng.normal(0, 0.08)),
            voice=voice_ids[j] if is_sounding else None, active=act,
        ))  # fmt: skip
        placed.append((objects[-1]["centres"][0], r))
    depth = rng.permutation(len(objects))
    objects = [objects[i] for i in depth]
    offscreen = None
    if has_off:
        offscreen = dict(cls=offscreen_cls, voice=voice_ids[-1], active=_activity(rng, 0.7))
    n = NUM_FRAMES * sr
    mix = np.zeros(n)
    sources = [o for o in objects if o["voice"] is not None] + ([offscreen] if offscreen else [])
    for src in sources:
        gain_db = float(rng.uniform(-6, 6))
        src["gain_db"] = gain_db
        stream = word_stream(voices[src["voice"]], src["cls"], rng, n, sr)
        mix += 10 ** (gain_db / 20) * stream * activity_envelope(src["active"], sr)
    audio, room = room_and_noise(mix, rng, sr)
    audio *= 0.08 / (np.sqrt(np.mean(audio**2)) + 1e-12)
    peak = np.abs(audio).max()
    if peak > 0.95:
        audio *= 0.95 / peak
    background = render_background(rng, S)
    pan = rng.normal(0, 1.0, size=2)
    return dict(objects=objects, offscreen=offscreen, audio=audio, room=room, background=background, pan=pan,
                sounding=sorted(sounding), silent=sorted(silent))  # fmt: skip


_GRIDS: Dict[int, tuple] = {}


def _grid(size: int) -> tuple:
    if size not in _GRIDS:
        g = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
        _GRIDS[size] = (g[0], g[1])
    return _GRIDS[size]


def _render_frame(cfg: HardSyntheticConfig, clip: dict, t: int, rng: np.random.Generator, instances: list) -> tuple:
    """Frame ``t``: RGB uint8 [S, S, 3], sounding label map [S, S], visible-objects map [S, S] (class index + 1),
    and per-object full mask areas in px (depth order)."""
    S = cfg.image_size
    yy, xx = _grid(S)
    shift = (t - (NUM_FRAMES - 1) / 2) * clip["pan"]
    img = crop_background(clip["background"], S, shift[0], shift[1])
    img = np.clip(img + rng.normal(0, 0.01, size=img.shape), 0, 1)
    label = np.zeros((S, S), dtype=np.uint8)
    visible = np.zeros((S, S), dtype=np.uint8)
    areas = []
    for o in clip["objects"]:
        cy, cx = o["centres"][t]
        m = render_sprite(img, instances[o["cls"]][o["instance"]], cy, cx, o["r"], o["ang"] + o["spin"] * t, yy, xx)
        label[m] = o["cls"] + 1 if o["active"][t] else 0
        visible[m] = o["cls"] + 1
        areas.append(int(m.sum()))
    return (img * 255 + 0.5).astype(np.uint8), label, visible, areas


class _Stats:
    """Per-split statistics recorded in the manifest (over every generated frame, labelled or not)."""

    def __init__(self, num_classes: int) -> None:
        self.k = num_classes
        self.s: Dict[str, dict] = {}

    def add(self, split: str, clip: dict, frames: list, S: int) -> None:
        d = self.s.setdefault(split, dict(
            clips=0, frames=0, sounding_objects_per_class=[0] * self.k, sounding_frames_per_class=[0] * self.k,
            visible_objects=0, silent_objects=0, object_frames=0, silent_object_frames=0, occluded_object_frames=0,
            area_pct_sum=0.0, area_pct_min=100.0, area_pct_max=0.0, visible_area_pct_sum=0.0,
            offscreen_clips=0, offscreen_frames=0, multi_source_frames=0, multi_sounding_frames=0))  # fmt: skip
        d["clips"] += 1
        d["frames"] += NUM_FRAMES
        for o in clip["objects"]:
            d["visible_objects"] += 1
            d["silent_objects"] += int(not any(o["active"]))
            if any(o["active"]):
                d["sounding_objects_per_class"][o["cls"]] += 1
        d["offscreen_clips"] += int(clip["offscreen"] is not None)
        for t, (_, label, visible, areas) in enumerate(frames):
            audible = sum(o["active"][t] for o in clip["objects"])
            off = clip["offscreen"] is not None and clip["offscreen"]["active"][t]
            d["offscreen_frames"] += int(off)
            d["multi_source_frames"] += int(audible + off >= 2)
            present = set(np.unique(label[label > 0]).tolist())
            d["multi_sounding_frames"] += int(len(present) >= 2)
            for c in present:
                d["sounding_frames_per_class"][c - 1] += 1
            for o, a in zip(clip["objects"], areas):
                pct, vis = 100.0 * a / S**2, int((visible == o["cls"] + 1).sum())
                d["object_frames"] += 1
                d["silent_object_frames"] += int(not o["active"][t])
                d["occluded_object_frames"] += int(vis < 0.95 * a)
                d["area_pct_sum"] += pct
                d["area_pct_min"], d["area_pct_max"] = min(d["area_pct_min"], pct), max(d["area_pct_max"], pct)
                d["visible_area_pct_sum"] += 100.0 * vis / S**2

    def summary(self) -> dict:
        out = {}
        for split, d in self.s.items():
            of = max(1, d["object_frames"])
            out[split] = dict(
                clips=d["clips"], frames=d["frames"],
                sounding_objects_per_class=d["sounding_objects_per_class"],
                sounding_frames_per_class=d["sounding_frames_per_class"],
                visible_objects=d["visible_objects"],
                silent_object_fraction=round(d["silent_objects"] / max(1, d["visible_objects"]), 4),
                silent_object_frame_fraction=round(d["silent_object_frames"] / of, 4),
                occluded_object_frame_fraction=round(d["occluded_object_frames"] / of, 4),
                object_area_pct_mean=round(d["area_pct_sum"] / of, 3),
                object_area_pct_min=round(d["area_pct_min"], 3), object_area_pct_max=round(d["area_pct_max"], 3),
                visible_area_pct_mean=round(d["visible_area_pct_sum"] / of, 3),
                offscreen_clip_fraction=round(d["offscreen_clips"] / d["clips"], 4),
                offscreen_frame_fraction=round(d["offscreen_frames"] / d["frames"], 4),
                multi_source_frame_fraction=round(d["multi_source_frames"] / d["frames"], 4),
                multi_sounding_frame_fraction=round(d["multi_sounding_frames"] / d["frames"], 4),
            )  # fmt: skip
        return out


def _write_all(tmp: str, cfg: HardSyntheticConfig) -> dict:
    names = list(HARD_CLASS_NAMES[: cfg.num_classes])
    write_label2idx(tmp, names)
    voices, instances = _pools(cfg)
    rows, clips_info = [], {}
    counts: Dict[str, Dict[str, int]] = {}
    stats = _Stats(cfg.num_classes)
    for split in SPLITS:
        cycle = np.random.default_rng([cfg.seed, 4000 + SPLIT_CODES[split]]).permutation(cfg.num_classes)
        for idx in range(getattr(cfg, f"num_{split}")):
            rng = np.random.default_rng([cfg.seed, 1000 + SPLIT_CODES[split], idx])
            subset = "v1m" if rng.uniform() < cfg.multi_fraction else "v1s"
            first = int(cycle[idx % cfg.num_classes])
            clip = _draw_clip(cfg, rng, subset, voices[split], instances[split], first)
            vid = f"hard{split}{idx:04d}"
            uid = clip_uid(vid, subset, NUM_FRAMES)
            cdir = os.path.join(tmp, subset, uid)
            make_clip_dirs(cdir)
            frames = []
            for t in range(NUM_FRAMES):
                img, label, visible, areas = _render_frame(cfg, clip, t, rng, instances[split])
                frames.append((None, label, visible, areas))
                write_jpeg(os.path.join(cdir, "frames", f"{t}.jpg"), img, cfg.jpeg_quality)
                write_index_png(os.path.join(cdir, "labels_visible", f"{t}.png"), visible)
                if cfg.v1s_train_first_label_only and subset == "v1s" and split == "train" and t > 0:
                    continue
                write_index_png(os.path.join(cdir, "labels_semantic", f"{t}.png"), label)
                write_rgb_label(os.path.join(cdir, "labels_rgb", f"{t}.png"), label)
            write_wav(os.path.join(cdir, "audio.wav"), clip["audio"], cfg.sample_rate)
            stats.add(split, clip, frames, cfg.image_size)
            rows.append([vid, uid, 0, 0, "_".join(names[c] for c in clip["sounding"]), split, subset])
            counts.setdefault(split, {}).setdefault(subset, 0)
            counts[split][subset] += 1
            clips_info[uid] = _clip_record(split, subset, clip, frames, cfg.image_size)
    write_metadata(tmp, rows)
    with open(os.path.join(tmp, "clips.json"), "w", encoding="utf-8") as f:
        json.dump(clips_info, f, indent=1, sort_keys=True)
    with open(os.path.join(tmp, "sources.json"), "w", encoding="utf-8") as f:
        json.dump(dict(
            voices={s: {voice_id(s, i): v.as_dict() for i, v in enumerate(voices[s])} for s in SPLITS},
            instances={s: {instance_id(s, c, i): inst.as_dict() for c in range(cfg.num_classes)
                           for i, inst in enumerate(instances[s][c])} for s in SPLITS},
        ), f, indent=1, sort_keys=True)  # fmt: skip
    digest, nfiles = tree_digest(tmp)
    manifest = dict(_manifest_params(cfg), classes=["background"] + names, counts=counts, stats=stats.summary(),
                    num_files=nfiles, content_sha256=digest)  # fmt: skip
    write_manifest(tmp, manifest)
    return manifest


def voice_id(split: str, i: int) -> str:
    """Voice id (``<split>-v<i>``), as in sources.json and clips.json."""
    return f"{split}-v{i:02d}"


def instance_id(split: str, c: int, i: int) -> str:
    """Instance id (``<split>-c<class>-i<i>``), as in sources.json and clips.json."""
    return f"{split}-c{c:02d}-i{i:02d}"


def _clip_record(split: str, subset: str, clip: dict, frames: list, S: int) -> dict:
    objs = []
    for k, o in enumerate(clip["objects"]):
        objs.append(dict(
            cls=o["cls"], instance=instance_id(split, o["cls"], o["instance"]),
            voice=voice_id(split, o["voice"]) if o["voice"] is not None else None, active=o["active"],
            gain_db=round(o["gain_db"], 3) if "gain_db" in o else None, depth=k,
            area_pct=[round(100.0 * fr[3][k] / S**2, 3) for fr in frames],
        ))  # fmt: skip
    off = clip["offscreen"]
    if off is not None:
        off = dict(cls=off["cls"], voice=voice_id(split, off["voice"]), active=off["active"],
                   gain_db=round(off["gain_db"], 3))  # fmt: skip
    room = {k: round(v, 4) for k, v in clip["room"].items()}
    return dict(split=split, subset=subset, objects=objs, room=room, offscreen=off)


def generate_synthetic_avs_hard(
    root: str, seed: int = 0, object_scale: float = 1.0, overwrite: bool = False, **params
) -> dict:
    """Generate (if absent) the harder synthetic AVS set under ``root`` and return its manifest.

    Args:
        root: target folder (created atomically: written to a temporary sibling, then renamed).
        seed: generator seed; the same seed and parameters give byte-identical files.
        object_scale: multiplies every object's target area (U(3 %, 10 %) of the frame at 1.0).
        overwrite: replace an existing set generated with other parameters.
        **params: other :class:`HardSyntheticConfig` fields (num_classes, image_size, num_train / num_val /
            num_test, voices_<split>, instances_<split>, multi_fraction, v1m_activity, offscreen_prob, ...).

    Returns:
        The manifest dict (parameters, classes, per-split/subset counts, per-split statistics, content SHA-256).

    Raises:
        FileExistsError: ``root`` exists with other parameters (or without a manifest) and ``overwrite`` is False.
        ValueError: a parameter is out of range.
    """
    cfg = HardSyntheticConfig(seed=int(seed), object_scale=float(object_scale), **params)
    cfg.validate()
    return generate_atomically(root, _manifest_params(cfg), lambda tmp: _write_all(tmp, cfg), overwrite=overwrite)
