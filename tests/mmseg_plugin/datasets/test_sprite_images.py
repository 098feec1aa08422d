"""The image-only sprite set for visual pre-training (mmseg_plugin.synthetic.sprite_images)."""

import numpy as np
import pytest

from mmseg_plugin.synthetic.hard_visual import SPRITE_CLASSES
from mmseg_plugin.synthetic.sprite_images import generate_sprite_images


def test_shapes_labels_and_determinism():
    a, la, info = generate_sprite_images(num_images=12, seed=3, image_size=64, num_classes=5)
    b, lb, _ = generate_sprite_images(num_images=12, seed=3, image_size=64, num_classes=5)
    c, lc, _ = generate_sprite_images(num_images=12, seed=4, image_size=64, num_classes=5)
    assert a.shape == (12, 64, 64, 3) and a.dtype == np.uint8
    assert la.shape == (12, 64, 64) and la.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert la.max() <= 5 and (la > 0).any() and (la == 0).any()
    assert info["classes"] == list(SPRITE_CLASSES[:5])
    assert sum(info["pixels_per_class"]) == la.size
    assert info["pixels_per_class"][0] == int((la == 0).sum())


def test_every_image_has_objects_of_the_requested_size():
    _, lab, _ = generate_sprite_images(num_images=20, seed=0, image_size=96, min_objects=1, max_objects=1)
    frac = (lab > 0).reshape(20, -1).mean(1)
    # one object of 3-10 % of the frame (the harder set's sizes); partly outside the frame never, rounding aside
    assert frac.min() > 0.02 and frac.max() < 0.12


def test_objects_are_fresh_instances():
    """Two objects of the same class almost never share colours: every object is a new instance."""
    img, lab, _ = generate_sprite_images(num_images=40, seed=1, image_size=64, num_classes=2, max_objects=3)
    means = [img[i][lab[i] == 1].mean(0) for i in range(40) if (lab[i] == 1).sum() > 30]
    assert len(means) > 10
    d = np.linalg.norm(np.asarray(means)[:, None] - np.asarray(means)[None], axis=-1)
    assert np.median(d[np.triu_indices(len(means), 1)]) > 20  # uint8 RGB units


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(num_images=0), "num_images"),
        (dict(num_classes=13), "num_classes"),
        (dict(image_size=16), "image_size"),
        (dict(object_scale=5.0), "object_scale"),
        (dict(min_objects=3, max_objects=2), "min_objects"),
        (dict(backgrounds=-1), "backgrounds"),
    ],
)
def test_bad_parameters_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        generate_sprite_images(**bad)
