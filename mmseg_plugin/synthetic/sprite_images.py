"""An image-only sprite set for visual pre-training: the synthetic analogue of ImageNet pre-training.

No paper equation. The paper's encoders start from ImageNet weights; the small configs learn vision from scratch,
and on the harder set (:mod:`.hard`, 8 instances per class in training) a from-scratch encoder learns the training
instances, not the classes (docs/training.md, "The visual half"). This module draws an *independent* image set of
the harder set's sprite classes (:mod:`.hard_visual`): every object is a fresh instance (new colours, aspect,
pattern frequency / phase, texture), on freshly drawn cluttered backgrounds, with index labels of every object. It
shares no instance, background or random stream with any split of the harder set: its generator is seeded with
``[seed, SPRITE_STREAM]``, a stream tag that the harder set's generator does not use.

No audio, no clip structure, no silent / sounding distinction: only "what is where". Images are uint8
``[N, S, S, 3]`` (RGB), labels uint8 ``[N, S, S]`` (0 background, ``c + 1`` for sprite class ``c``; later objects
occlude earlier ones, as in the harder set).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Tuple

import numpy as np

from .hard_visual import SPRITE_CLASSES, crop_background, draw_instance, render_background, render_sprite

__all__ = ["SpriteImageConfig", "SPRITE_STREAM", "generate_sprite_images"]

SPRITE_STREAM = 9000  # stream tag; the harder set uses 1000-4002 (clips, voices, instances, class cycles)


@dataclass(frozen=True)
class SpriteImageConfig:
    """Parameters of :func:`generate_sprite_images` (defaults: the harder set's geometry)."""

    num_images: int = 4000
    seed: int = 0
    image_size: int = 128
    num_classes: int = 12
    object_scale: float = 1.0  # each object covers object_scale x U(3 %, 10 %) of the frame, as in the harder set
    min_objects: int = 2
    max_objects: int = 5
    backgrounds: int = 0  # distinct backgrounds (each reused rotated / flipped / shifted); 0: num_images // 10

    def validate(self) -> None:
        if self.num_images < 1:
            raise ValueError(f"sprite images: num_images must be >= 1, got {self.num_images}")
        if not 2 <= self.num_classes <= len(SPRITE_CLASSES):
            raise ValueError(
                f"sprite images: num_classes must be in [2, {len(SPRITE_CLASSES)}], got {self.num_classes}"
            )
        if self.image_size < 32:
            raise ValueError(f"sprite images: image_size must be >= 32, got {self.image_size}")
        if not 0.2 <= self.object_scale <= 2.5:
            raise ValueError(f"sprite images: object_scale must be in [0.2, 2.5], got {self.object_scale}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"sprite images: need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}"
            )
        if self.backgrounds < 0:
            raise ValueError(f"sprite images: backgrounds must be >= 0, got {self.backgrounds}")


def generate_sprite_images(**params) -> Tuple[np.ndarray, np.ndarray, dict]:
    """Draw the set; returns ``(images uint8 [N, S, S, 3], labels uint8 [N, S, S], info)``.

    ``params`` are :class:`SpriteImageConfig` fields. ``info`` records the parameters and per-class pixel counts.
    Deterministic from ``seed``. About 10 images per second on one core at 128 px.
    """
    cfg = SpriteImageConfig(**params)
    cfg.validate()
    S, K = cfg.image_size, cfg.num_classes
    rng = np.random.default_rng([cfg.seed, SPRITE_STREAM])
    g = np.mgrid[0:S, 0:S].astype(np.float64) + 0.5
    yy, xx = g[0], g[1]
    n_bg = cfg.backgrounds or max(1, cfg.num_images // 10)
    backgrounds = [render_background(rng, S) for _ in range(n_bg)]
    images = np.empty((cfg.num_images, S, S, 3), dtype=np.uint8)
    labels = np.zeros((cfg.num_images, S, S), dtype=np.uint8)
    for i in range(cfg.num_images):
        bg = np.rot90(backgrounds[int(rng.integers(n_bg))], int(rng.integers(4)))
        if rng.uniform() < 0.5:
            bg = bg[:, ::-1]
        oy, ox = rng.uniform(-8, 8, size=2)
        img = crop_background(np.ascontiguousarray(bg), S, oy, ox)
        for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
            c = int(rng.integers(K))
            inst = draw_instance(rng, c)
            area = cfg.object_scale * rng.uniform(0.03, 0.10)
            r = float(np.sqrt(area * S * S / inst.fill))
            lo, hi = 1.35 * r, S - 1.35 * r
            cy, cx = rng.uniform(lo, hi, size=2) if hi > lo else (S / 2, S / 2)
            m = render_sprite(img, inst, cy, cx, r, rng.uniform(0, 2 * np.pi), yy, xx)
            labels[i][m] = c + 1
        img = np.clip(img + rng.normal(0, 0.01, size=img.shape), 0, 1)
        images[i] = (img * 255 + 0.5).astype(np.uint8)
    counts = np.bincount(labels.reshape(-1), minlength=K + 1)
    info = dict(asdict(cfg), classes=list(SPRITE_CLASSES[:K]), pixels_per_class=[int(v) for v in counts])
    return images, labels, info
