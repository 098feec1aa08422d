"""Deterministic synthetic audio-visual segmentation set, written in the AVSBench-semantic (AVSS) layout.

No paper equation; this is the project's built-in dataset for CPU training. Pure numpy / PIL / soundfile.

Design (docs/datasets.md, "Synthetic set"):

- ``num_classes`` object classes (default 6, at most 8). Class c has its own shape and colour family (hue spaced
  360/8 degrees apart, saturated) and its own *family of sounds* (tone, buzz, drum, chirp, beep, rumble, warble,
  hiss), varied within the class: pitch, harmonic roll-off / band, rhythm or AM rate, gain.
- Frames: ``image_size`` x ``image_size`` RGB JPEG on low-saturation textured backgrounds (stripes + smooth noise +
  grain); objects move a little from frame to frame.
- Clips of ``num_frames`` 1-s frames with one ``audio.wav`` (16 kHz, int16 PCM). Subset "v1s": one sounding object
  on screen, sounding every second. Subset "v1m": 2-3 sounding objects of distinct classes, each active in a random
  non-empty subset of the seconds; their sounds overlap (summed).
- Distractors: an *off-screen sound* (a class with no object on screen, audible, never in the mask) and a *silent
  on-screen object* (visible, never audible, background in the mask; it may occlude other objects). Distractor
  classes never coincide with a sounding on-screen class, so the task stays well posed.
- Masks: ``labels_semantic/<i>.png`` (mode 'P', VOC palette, value = class index) and ``labels_rgb/<i>.png`` (RGB,
  VOC colours). As in AVSS, v1s *train* clips carry only the mask of frame 0.
- Visible-objects maps (not part of AVSS; the AVSS loader ignores them): ``labels_visible/<i>.png`` for every
  frame, same palette format as labels_semantic, holding every on-screen object (sounding or silent) with its class
  index, occlusion order respected. For visual-only baselines.
- ``metadata.csv`` (vid,uid,s_min,s_sec,a_obj,split,label) and ``label2idx.json`` (background = 1).
- Deterministic: every clip draws from ``np.random.default_rng([seed, split, index])``; the same seed gives the same
  bytes. ``synthetic_manifest.json`` records version, seed, parameters, counts and a SHA-256 over all files.
- Atomic: written into a temporary sibling folder, then renamed onto ``root``.

The layout writing (:mod:`.avss_writer`) and the atomic cached generation (:mod:`.atomic`) are shared with the
harder preset (:mod:`.hard`).
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from .atomic import MANIFEST_NAME, generate_atomically, tree_digest, write_manifest
from .avss_writer import (
    clip_uid,
    make_clip_dirs,
    voc_palette_bytes,
    write_index_png,
    write_jpeg,
    write_label2idx,
    write_metadata,
    write_rgb_label,
    write_wav,
)

__all__ = ["generate_synthetic_avs", "SyntheticConfig", "CLASS_SPECS", "GENERATOR_VERSION", "MANIFEST_NAME",
           "synth_source", "voc_palette_bytes", "activity_envelope"]  # fmt: skip

GENERATOR_VERSION = "2"  # 2: labels_visible/ added (other files unchanged)
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

# name (no underscore: a_obj joins names with "_"), shape, hue (degrees), sound family
CLASS_SPECS: Tuple[Tuple[str, str, float, str], ...] = (
    ("disc", "disc", 0.0, "tone"),
    ("square", "square", 45.0, "buzz"),
    ("triangle", "triangle", 90.0, "drum"),
    ("diamond", "diamond", 135.0, "chirp"),
    ("cross", "cross", 180.0, "beep"),
    ("ring", "ring", 225.0, "rumble"),
    ("hexagon", "hexagon", 270.0, "warble"),
    ("bar", "bar", 315.0, "hiss"),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Generator parameters (all recorded in the manifest)."""

    seed: int = 0
    num_classes: int = 6
    image_size: int = 96
    num_frames: int = 5
    sample_rate: int = 16000
    num_train: int = 240
    num_val: int = 40
    num_test: int = 40
    multi_fraction: float = 0.5
    offscreen_prob: float = 0.35
    silent_prob: float = 0.5
    v1s_train_first_label_only: bool = True
    jpeg_quality: int = 95

    def validate(self) -> None:
        if not 2 <= self.num_classes <= len(CLASS_SPECS):
            raise ValueError(f"num_classes must be in [2, {len(CLASS_SPECS)}], got {self.num_classes}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if self.num_frames < 1 or self.sample_rate < 8000:
            raise ValueError("num_frames must be >= 1 and sample_rate >= 8000")
        if min(self.num_train, self.num_val, self.num_test) < 1:
            raise ValueError("every split needs at least one clip")
        for name in ("multi_fraction", "offscreen_prob", "silent_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


# ---------------------------------------------------------------------------------------------------- visuals
def _shape_mask(shape: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float, ang: float) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(ang) + dy * np.sin(ang)
    v = -dx * np.sin(ang) + dy * np.cos(ang)
    d = np.hypot(u, v)
    if shape == "disc":
        return d <= r
    if shape == "ring":
        return (d <= r) & (d >= 0.55 * r)
    if shape == "square":
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= r
    if shape == "cross":
        return ((np.abs(u) <= 0.3 * r) & (np.abs(v) <= r)) | ((np.abs(v) <= 0.3 * r) & (np.abs(u) <= r))
    if shape == "bar":
        return (np.abs(u) <= r) & (np.abs(v) <= 0.35 * r)
    if shape == "hexagon":
        m = np.ones_like(d, dtype=bool)
        for k in range(3):
            t = ang + k * np.pi / 3
            m &= np.abs(dx * np.cos(t) + dy * np.sin(t)) <= 0.87 * r
        return m
    if shape == "triangle":
        m = np.ones_like(d, dtype=bool)
        for k in range(3):
            t = ang + k * 2 * np.pi / 3
            m &= dx * np.cos(t) + dy * np.sin(t) <= 0.5 * r
        return m
    raise ValueError(f"unknown shape {shape!r}")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-saturation textured background [size, size, 3] float in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    base = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.0, 0.2), rng.uniform(0.35, 0.75)))
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 12)
    stripes = 0.08 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 6.3))
    coarse = rng.normal(0, 0.08, size=(6, 6))
    smooth = np.asarray(Image.fromarray(coarse.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
    img = base[None, None, :] + (stripes + smooth)[..., None] + rng.normal(0, 0.025, size=(size, size, 3))
    return np.clip(img, 0, 1)


def _object_colour(rng: np.random.Generator, hue_deg: float) -> np.ndarray:
    h = ((hue_deg + rng.uniform(-8, 8)) % 360) / 360.0
    return np.array(colorsys.hsv_to_rgb(h, rng.uniform(0.75, 1.0), rng.uniform(0.7, 1.0)))


# ---------------------------------------------------------------------------------------------------- audio
def _band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def synth_source(family: str, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """One sound of ``family`` with within-class variation, ``n`` samples, unit RMS (before gain)."""
    t = np.arange(n) / sr
    # Each family owns a primary band (log-spaced, inside VGGish's 125-7500 Hz mel range) and a temporal pattern.
    if family == "tone":  # harmonic tone, f0 430-600 Hz, steep random roll-off of harmonics 2-3
        f0, p = rng.uniform(430, 600), rng.uniform(2.5, 3.5)
        x = sum(k ** (-p) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in range(1, 4))
    elif family == "buzz":  # square-ish (odd harmonics, 1/k^2), f0 230-320 Hz, AM 2-4 Hz
        f0, am = rng.uniform(230, 320), rng.uniform(2, 4)
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k**2 for k in (1, 3, 5))
        x *= 0.6 + 0.4 * np.sin(2 * np.pi * am * t)
    elif family == "drum":  # band-passed noise bursts (2.4-3.3 kHz), 3-6 Hz rhythm, random decay
        rate = rng.uniform(3, 6)
        phase = (t * rate + rng.uniform(0, 1)) % 1.0
        x = _band_noise(rng, n, sr, rng.uniform(2400, 2600), rng.uniform(3100, 3300))
        x *= np.exp(-phase / rng.uniform(0.03, 0.06))
    elif family == "chirp":  # repeated up-sweeps ~1.4 -> 1.85 kHz, period 0.25-0.5 s
        period = rng.uniform(0.25, 0.5)
        f_lo, f_hi = rng.uniform(1350, 1450), rng.uniform(1800, 1900)
        inst_f = f_lo + (f_hi - f_lo) * ((t % period) / period)
        x = np.sin(2 * np.pi * np.cumsum(inst_f) / sr)
    elif family == "beep":  # 3.9-5 kHz pulses at 5-8 Hz, random duty cycle
        f, rate = rng.uniform(3900, 5000), rng.uniform(5, 8)
        gate = ((t * rate + rng.uniform(0, 1)) % 1.0) < rng.uniform(0.35, 0.6)
        x = np.sin(2 * np.pi * f * t) * gate
    elif family == "rumble":  # low band noise 125-190 Hz, slow AM 0.5-1 Hz
        x = _band_noise(rng, n, sr, rng.uniform(120, 130), rng.uniform(180, 200))
        x *= 0.7 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 1.0) * t)
    elif family == "warble":  # 780-950 Hz tone with 6-10 Hz FM of 30-70 Hz depth
        f, fm, depth = rng.uniform(780, 950), rng.uniform(6, 10), rng.uniform(30, 70)
        x = np.sin(2 * np.pi * f * t + (depth / fm) * np.sin(2 * np.pi * fm * t))
    elif family == "hiss":  # high band noise 5.8-7.5 kHz, AM 1-3 Hz
        x = _band_noise(rng, n, sr, rng.uniform(5700, 5900), min(7500, sr / 2 - 100))
        x *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(1, 3) * t)
    else:
        raise ValueError(f"unknown sound family {family!r}")
    x = np.asarray(x, dtype=np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def activity_envelope(active: List[bool], sr: int, fade_s: float = 0.02) -> np.ndarray:
    """Per-second on/off gate with short linear fades at the switch points."""
    env = np.repeat(np.asarray(active, dtype=np.float64), sr)
    k = max(1, int(fade_s * sr))
    c = np.concatenate([[0.0], np.cumsum(np.pad(env, (k // 2, k - k // 2 - 1), mode="edge"))])
    return (c[k:] - c[:-k]) / k  # centred moving average of length k (same length as env)


# ---------------------------------------------------------------------------------------------------- clips
def _draw_clip(cfg: SyntheticConfig, rng: np.random.Generator, subset: str) -> dict:
    """Sample one clip: objects (class, colour, size, trajectory, sounding seconds), distractors, audio."""
    classes = list(range(cfg.num_classes))
    n_sound = 1 if subset == "v1s" else (3 if rng.uniform() < 0.25 and cfg.num_classes >= 4 else 2)
    order = rng.permutation(classes)
    sounding = [int(c) for c in order[:n_sound]]
    rest = [int(c) for c in order[n_sound:]]
    offscreen = rest.pop(0) if rest and rng.uniform() < cfg.offscreen_prob else None
    silent = rest.pop(0) if rest and rng.uniform() < cfg.silent_prob else None
    T, S = cfg.num_frames, cfg.image_size
    objects = []
    for c in sounding + ([silent] if silent is not None else []):
        if c in sounding and subset == "v1m":
            act = rng.uniform(size=T) < 0.7
            if not act.any():
                act[rng.integers(T)] = True
        else:
            act = np.full(T, c in sounding)
        r = rng.uniform(0.13, 0.21) * S
        pos = rng.uniform(r, S - r, size=2)
        vel = rng.normal(0, 0.03 * S, size=2)
        objects.append(dict(cls=c, active=[bool(a) for a in act], r=r, pos=pos, vel=vel,
                            ang=rng.uniform(0, 2 * np.pi), colour=_object_colour(rng, CLASS_SPECS[c][2])))  # fmt: skip
    z = rng.permutation(len(objects))
    objects = [objects[i] for i in z]
    n = T * cfg.sample_rate
    audio = rng.normal(0, 0.003, size=n)
    for o in objects:
        if any(o["active"]):
            src = synth_source(CLASS_SPECS[o["cls"]][3], rng, n, cfg.sample_rate)
            audio += 0.12 * rng.uniform(0.7, 1.3) * src * activity_envelope(o["active"], cfg.sample_rate)
    if offscreen is not None:
        src = synth_source(CLASS_SPECS[offscreen][3], rng, n, cfg.sample_rate)
        audio += 0.12 * rng.uniform(0.7, 1.3) * src
    peak = np.abs(audio).max()
    if peak > 0.95:
        audio *= 0.95 / peak
    backgrounds = [_background(rng, S)]
    return dict(objects=objects, audio=audio, background=backgrounds[0], sounding=sounding, offscreen=offscreen,
                silent=silent)  # fmt: skip


_GRIDS: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    if size not in _GRIDS:
        g = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
        _GRIDS[size] = (g[0], g[1])
    return _GRIDS[size]


def _render_frame_maps(
    cfg: SyntheticConfig, clip: dict, t: int, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``t``: RGB uint8 [S, S, 3], sounding label map [S, S] and visible-objects map [S, S] (uint8 class
    index + 1 of every on-screen object, sounding or silent; later objects occlude earlier ones in both maps)."""
    S = cfg.image_size
    yy, xx = _grid(S)
    img = clip["background"].copy()
    img = np.clip(img + rng.normal(0, 0.01, size=img.shape), 0, 1)
    label = np.zeros((S, S), dtype=np.uint8)
    visible = np.zeros((S, S), dtype=np.uint8)
    for o in clip["objects"]:
        pos = o["pos"] + t * o["vel"]
        pos = np.clip(pos, o["r"], S - o["r"])
        m = _shape_mask(CLASS_SPECS[o["cls"]][1], yy, xx, pos[1], pos[0], o["r"], o["ang"] + 0.1 * t)
        shade = 1.0 + 0.08 * ((yy - pos[1]) / o["r"])[..., None]
        img = np.where(m[..., None], np.clip(o["colour"][None, None, :] * shade, 0, 1), img)
        label[m] = o["cls"] + 1 if o["active"][t] else 0
        visible[m] = o["cls"] + 1
    return (img * 255 + 0.5).astype(np.uint8), label, visible


def _render_frame(cfg: SyntheticConfig, clip: dict, t: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Frame ``t``: RGB uint8 [S, S, 3] and sounding label map [S, S] (see :func:`_render_frame_maps`)."""
    img, label, _ = _render_frame_maps(cfg, clip, t, rng)
    return img, label


def _manifest_params(cfg: SyntheticConfig) -> dict:
    return dict(version=GENERATOR_VERSION, **asdict(cfg))


def _write_all(tmp: str, cfg: SyntheticConfig) -> dict:
    names = [CLASS_SPECS[c][0] for c in range(cfg.num_classes)]
    write_label2idx(tmp, names)
    rows = []
    counts: Dict[str, Dict[str, int]] = {}
    stats = dict(offscreen_clips=0, silent_object_clips=0, multi_active_frames=0)
    for split, num in (("train", cfg.num_train), ("val", cfg.num_val), ("test", cfg.num_test)):
        for idx in range(num):
            rng = np.random.default_rng([cfg.seed, SPLIT_CODES[split], idx])
            subset = "v1m" if rng.uniform() < cfg.multi_fraction else "v1s"
            clip = _draw_clip(cfg, rng, subset)
            vid = f"syn{split}{idx:04d}"
            uid = clip_uid(vid, subset, cfg.num_frames)
            cdir = os.path.join(tmp, subset, uid)
            make_clip_dirs(cdir)
            for t in range(cfg.num_frames):
                img, label, visible = _render_frame_maps(cfg, clip, t, rng)
                write_jpeg(os.path.join(cdir, "frames", f"{t}.jpg"), img, cfg.jpeg_quality)
                write_index_png(os.path.join(cdir, "labels_visible", f"{t}.png"), visible)
                if cfg.v1s_train_first_label_only and subset == "v1s" and split == "train" and t > 0:
                    continue
                write_index_png(os.path.join(cdir, "labels_semantic", f"{t}.png"), label)
                write_rgb_label(os.path.join(cdir, "labels_rgb", f"{t}.png"), label)
                stats["multi_active_frames"] += int(len(np.unique(label[label > 0])) > 1)
            write_wav(os.path.join(cdir, "audio.wav"), clip["audio"], cfg.sample_rate)
            sounding_names = [names[c] for c in sorted(clip["sounding"])]
            rows.append([vid, uid, 0, 0, "_".join(sounding_names), split, subset])
            counts.setdefault(split, {}).setdefault(subset, 0)
            counts[split][subset] += 1
            stats["offscreen_clips"] += int(clip["offscreen"] is not None)
            stats["silent_object_clips"] += int(clip["silent"] is not None)
    write_metadata(tmp, rows)
    digest, nfiles = tree_digest(tmp)
    manifest = dict(_manifest_params(cfg), classes=["background"] + names, counts=counts, stats=stats,
                    num_files=nfiles, content_sha256=digest)  # fmt: skip
    write_manifest(tmp, manifest)
    return manifest


def generate_synthetic_avs(root: str, seed: int = 0, num_classes: int = 6, overwrite: bool = False, **params) -> dict:
    """Generate (if absent) the synthetic AVS set under ``root`` and return its manifest.

    Args:
        root: target folder (created atomically: written to a temporary sibling, then renamed).
        seed: generator seed; the same seed and parameters give byte-identical files.
        num_classes: number of object classes (2..8), background excluded.
        overwrite: replace an existing set generated with other parameters.
        **params: other :class:`SyntheticConfig` fields (image_size, num_frames, num_train, num_val, num_test,
            multi_fraction, offscreen_prob, silent_prob, sample_rate, v1s_train_first_label_only, jpeg_quality).

    Returns:
        The manifest dict (parameters, classes, per-split/subset counts, distractor stats, content SHA-256).

    Raises:
        FileExistsError: ``root`` exists with other parameters (or without a manifest) and ``overwrite`` is False.
    """
    cfg = SyntheticConfig(seed=int(seed), num_classes=int(num_classes), **params)
    cfg.validate()
    return generate_atomically(root, _manifest_params(cfg), lambda tmp: _write_all(tmp, cfg), overwrite=overwrite)
