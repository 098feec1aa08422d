"""Visuals of the harder synthetic set: procedural two-tone sprites whose *structure* is the class, on clutter.

No paper equation. Pure numpy / PIL. Images are float64 [H, W, 3] in [0, 1]; masks bool [H, W].

- **Sprite classes** (12): stripes, checker, target, dumbbell, clover, star, crescent, ell, spotted, chevron,
  ladder, wheel. Each is a part layout / pattern in object-local coordinates (u, v) in units of the object radius,
  split into a primary and a secondary region.
- **Instances** (:class:`Instance`): one draw of the sprite parameters: two unrelated random colours (any hue; so
  colour says nothing about the class), aspect ratio, pattern frequency / phase, texture. Each split draws its own
  instance pool, so no test instance is seen in training. ``fill`` is the mask area in units of r^2, measured once
  on a grid, so an object can be sized to a target area fraction of the frame.
- **Backgrounds** (:func:`render_background`): smooth colour field, oriented texture, 15-35 clutter items (ellipses,
  bars, rings, small stripe patches in random colours, sizes 2-9 px), grain; rendered larger than the frame so the
  camera can pan (:func:`crop_background`).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
from PIL import Image

__all__ = ["SPRITE_CLASSES", "Instance", "draw_instance", "sprite_regions", "render_sprite", "render_background",
           "crop_background", "BACKGROUND_PAD"]  # fmt: skip

SPRITE_CLASSES = ("stripes", "checker", "target", "dumbbell", "clover", "star", "crescent", "ell", "spotted",
                  "chevron", "ladder", "wheel")  # fmt: skip
BACKGROUND_PAD = 8  # px of background beyond each frame edge (camera pan room)


@dataclass(frozen=True)
class Instance:
    """One object instance: class and every appearance parameter (the same in every clip it appears in)."""

    cls: int
    colour1: Tuple[float, float, float]  # RGB in [0, 1]
    colour2: Tuple[float, float, float]
    aspect: float  # u is stretched by aspect, v by 1 / aspect (area-preserving)
    freq: float  # pattern frequency (stripes, rings, checks, dots)
    phase: float  # pattern phase / part angle
    texture: float  # amplitude of the instance's surface texture
    fill: float  # mask area / r^2

    def as_dict(self) -> Dict[str, object]:
        return dict(cls=self.cls, colour1=list(self.colour1), colour2=list(self.colour2), aspect=self.aspect,
                    freq=self.freq, phase=self.phase, texture=self.texture, fill=self.fill)  # fmt: skip


def _random_colour(rng: np.random.Generator, hue: float) -> Tuple[float, float, float]:
    rgb = colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(0.35, 1.0), rng.uniform(0.35, 1.0))
    return tuple(float(c) for c in rgb)


def sprite_regions(cls: int, u: np.ndarray, v: np.ndarray, freq: float, phase: float) -> Tuple[np.ndarray, np.ndarray]:
    """Class ``cls``'s layout at local coordinates (units of r): (mask, secondary-region) bool arrays."""
    d = np.hypot(u, v)
    th = np.arctan2(v, u)
    name = SPRITE_CLASSES[cls]
    if name == "stripes":  # rectangle with parallel stripes across its long side
        m = (np.abs(u) <= 1.0) & (np.abs(v) <= 0.6)
        return m, m & (np.sin(np.pi * freq * u + phase) > 0)
    if name == "checker":  # square with a checkerboard
        m = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
        k = 1.25 * freq / 2
        return m, m & ((np.floor(k * (u + 0.8)) + np.floor(k * (v + 0.8))) % 2 == 1)
    if name == "target":  # concentric rings
        m = d <= 0.9
        return m, m & (np.floor(d * freq) % 2 == 1)
    if name == "dumbbell":  # two discs joined by a bar
        m = (np.hypot(u - 0.6, v) <= 0.4) | (np.hypot(u + 0.6, v) <= 0.4) | ((np.abs(u) <= 0.6) & (np.abs(v) <= 0.14))
        return m, m & (np.abs(u) < 0.3)
    if name == "clover":  # three lobes around a hub
        m = np.zeros(u.shape, dtype=bool)
        for k in range(3):
            a = phase + k * 2 * np.pi / 3
            m |= np.hypot(u - 0.5 * np.cos(a), v - 0.5 * np.sin(a)) <= 0.42
        return m, m & (d <= 0.28)
    if name == "star":  # five-pointed star, hub in the secondary colour
        rad = 0.45 + 0.55 * np.abs(np.cos(2.5 * (th - phase))) ** 3
        m = d <= rad
        return m, m & (d <= 0.3)
    if name == "crescent":  # disc minus an offset disc, rim in the secondary colour
        m = (d <= 0.95) & (np.hypot(u - 0.45, v) > 0.7)
        return m, m & (d > 0.78)
    if name == "ell":  # L of two bars, corner block secondary
        m = ((u >= -0.9) & (u <= -0.45) & (np.abs(v) <= 0.9)) | ((v >= 0.45) & (v <= 0.9) & (np.abs(u) <= 0.9))
        return m, m & (u <= -0.45) & (v >= 0.45)
    if name == "spotted":  # ellipse with a lattice of dots
        m = (u / 1.0) ** 2 + (v / 0.7) ** 2 <= 1.0
        return m, m & (np.sin(np.pi * freq * u + phase) * np.sin(np.pi * freq * v + phase) > 0.55)
    if name == "chevron":  # arrow head, one arm in each colour
        w = u + 0.9 * np.abs(v)
        m = (w >= -0.1) & (w <= 0.45) & (np.abs(v) <= 0.85)
        return m, m & (v > 0)
    if name == "ladder":  # two rails and three rungs (hollow)
        rails = (np.abs(np.abs(v) - 0.6) <= 0.14) & (np.abs(u) <= 1.0)
        rungs = (np.abs(v) <= 0.6) & ((np.abs(u) <= 0.1) | (np.abs(np.abs(u) - 0.65) <= 0.1))
        return rails | rungs, rungs & ~rails
    if name == "wheel":  # rim, four spokes and a hub
        rim = (d <= 0.95) & (d >= 0.72)
        uu, vv = u * np.cos(phase) + v * np.sin(phase), -u * np.sin(phase) + v * np.cos(phase)
        spokes = (d < 0.72) & ((np.abs(uu) <= 0.09) | (np.abs(vv) <= 0.09))
        hub = d <= 0.22
        return rim | spokes | hub, hub
    raise ValueError(f"unknown sprite class {cls}")


_FILL_GRID = np.mgrid[-1.6:1.6:0.02, -1.6:1.6:0.02]


def draw_instance(rng: np.random.Generator, cls: int) -> Instance:
    """One instance of sprite class ``cls`` (random colours unrelated to the class, shape parameters, texture)."""
    if not 0 <= cls < len(SPRITE_CLASSES):
        raise ValueError(f"sprite class must be in [0, {len(SPRITE_CLASSES)}), got {cls}")
    h = rng.uniform(0, 1)
    colour1 = _random_colour(rng, h)
    colour2 = _random_colour(rng, h + rng.uniform(0.25, 0.75))
    aspect = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    freq, phase, texture = float(rng.uniform(2.5, 4.0)), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 0.15))
    vv, uu = _FILL_GRID
    m, _ = sprite_regions(cls, uu / aspect, vv * aspect, freq, phase)
    fill = float(m.mean() * 3.2**2)
    return Instance(cls, colour1, colour2, aspect, freq, phase, texture, fill)


def render_sprite(
    img: np.ndarray, inst: Instance, cy: float, cx: float, r: float, ang: float, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """Paint ``inst`` centred at (cy, cx) with radius ``r`` px and rotation ``ang`` into ``img`` (in place);
    return its mask [H, W]. Only the box that can hold the sprite (1.6 r around the centre) is evaluated."""
    H, W = yy.shape
    e = 1.6 * r * max(inst.aspect, 1.0 / inst.aspect)
    y0, y1 = max(0, int(cy - e)), min(H, int(cy + e) + 2)
    x0, x1 = max(0, int(cx - e)), min(W, int(cx + e) + 2)
    full = np.zeros((H, W), dtype=bool)
    if y1 <= y0 or x1 <= x0:
        return full
    dy, dx = (yy[y0:y1, x0:x1] - cy) / r, (xx[y0:y1, x0:x1] - cx) / r
    u = (dx * np.cos(ang) + dy * np.sin(ang)) / inst.aspect
    v = (-dx * np.sin(ang) + dy * np.cos(ang)) * inst.aspect
    m, sec = sprite_regions(inst.cls, u, v, inst.freq, inst.phase)
    tex = 1.0 + inst.texture * np.sin(7.0 * u + 5.0 * v + inst.phase) - 0.1 * v  # surface texture + top-lit shading
    col = np.where(sec[..., None], np.asarray(inst.colour2), np.asarray(inst.colour1)) * tex[..., None]
    img[y0:y1, x0:x1][m] = np.clip(col[m], 0, 1)
    full[y0:y1, x0:x1] = m
    return full


def _smooth_field(rng: np.random.Generator, size: int, cells: int, sigma: float) -> np.ndarray:
    coarse = rng.normal(0, sigma, size=(cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC), dtype=np.float64)


def render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Cluttered background [size + 2 * BACKGROUND_PAD, ...same, 3] float in [0, 1]."""
    n = size + 2 * BACKGROUND_PAD
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    base = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.05, 0.45), rng.uniform(0.3, 0.8)))
    img = base[None, None, :] + np.stack([_smooth_field(rng, n, 5, 0.08) for _ in range(3)], axis=-1)
    th, f = rng.uniform(0, np.pi), rng.uniform(0.05, 0.3)
    img += rng.uniform(0.02, 0.07) * np.sin(f * (xx * np.cos(th) + yy * np.sin(th)) + rng.uniform(0, 6.3))[..., None]
    for _ in range(int(rng.integers(15, 36))):
        cy, cx = rng.uniform(0, n, size=2)
        rad, ang = rng.uniform(2, 9), rng.uniform(0, np.pi)
        col = np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.2, 1)))
        alpha = rng.uniform(0.4, 1.0)
        du = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
        dv = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)
        kind = int(rng.integers(4))
        if kind == 0:  # ellipse
            m = (du / rad) ** 2 + (dv / (rad * rng.uniform(0.3, 1.0))) ** 2 <= 1
        elif kind == 1:  # bar
            m = (np.abs(du) <= rad * 1.5) & (np.abs(dv) <= rng.uniform(0.7, 2.0))
        elif kind == 2:  # ring
            d = np.hypot(du, dv)
            m = (d <= rad) & (d >= rad * rng.uniform(0.5, 0.8))
        else:  # stripe patch
            m = (np.abs(du) <= rad) & (np.abs(dv) <= rad) & (np.sin(du * rng.uniform(0.8, 1.6)) > 0)
        img[m] = (1 - alpha) * img[m] + alpha * col
    img += rng.normal(0, 0.02, size=img.shape)
    return np.clip(img, 0, 1)


def crop_background(bg: np.ndarray, size: int, oy: float, ox: float) -> np.ndarray:
    """The frame-sized window of ``bg`` at offset (oy, ox) from the centred position (integer-rounded, clamped)."""
    p = BACKGROUND_PAD
    y0 = int(np.clip(round(p + oy), 0, 2 * p))
    x0 = int(np.clip(round(p + ox), 0, 2 * p))
    return bg[y0 : y0 + size, x0 : x0 + size].copy()
