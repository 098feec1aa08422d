"""RandomChannelShuffle: a permutation of the colour channels, masks untouched, seeded by numpy's generator."""

import itertools

import numpy as np
import pytest

from mmseg_plugin.datasets.transforms import RandomChannelShuffle

pytestmark = pytest.mark.mmseg


def _results():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    seg = rng.integers(0, 4, size=(5, 7), dtype=np.uint8)
    return dict(img=img, gt_seg_map=seg, img_path="clip/frames/0.jpg")


def test_output_is_a_channel_permutation_and_masks_are_untouched():
    ref = _results()
    perms = set()
    np.random.seed(0)
    for _ in range(60):
        out = RandomChannelShuffle(prob=1.0)(dict(ref, img=ref["img"].copy()))
        assert out["img"].shape == ref["img"].shape and out["img"].dtype == ref["img"].dtype
        np.testing.assert_array_equal(out["gt_seg_map"], ref["gt_seg_map"])
        match = [p for p in itertools.permutations(range(3)) if np.array_equal(out["img"], ref["img"][..., list(p)])]
        assert len(match) == 1, "the output must be exactly one permutation of the input's channels"
        perms.add(match[0])
    assert len(perms) == 6, f"all 6 permutations are drawn over 60 tries, got {sorted(perms)}"


def test_prob_zero_is_identity_and_seeding_reproduces():
    ref = _results()
    out = RandomChannelShuffle(prob=0.0)(dict(ref, img=ref["img"].copy()))
    np.testing.assert_array_equal(out["img"], ref["img"])
    draws = []
    for _ in range(2):
        np.random.seed(123)
        draws.append([RandomChannelShuffle(prob=0.5)(dict(ref, img=ref["img"].copy()))["img"] for _ in range(8)])
    for a, b in zip(*draws):
        np.testing.assert_array_equal(a, b)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="prob"):
        RandomChannelShuffle(prob=1.5)
    with pytest.raises(ValueError, match=r"\[H, W, 3\].*a\.png"):
        RandomChannelShuffle(prob=1.0)(dict(img=np.zeros((4, 4), np.uint8), img_path="a.png"))
    with pytest.raises(KeyError, match="no 'img'"):
        RandomChannelShuffle()(dict())
