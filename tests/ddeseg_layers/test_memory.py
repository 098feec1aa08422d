"""SemanticMemory (eqs. 2-4): hand-checkable build, incomplete-class rules, persistence and its refusals."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from ddeseg_layers.memory import SemanticMemory


def _two_blob_class(rng, center_a, center_b, n=6, spread=0.01):
    a = center_a + spread * rng.standard_normal((n, center_a.size))
    b = center_b + spread * rng.standard_normal((n, center_b.size))
    return np.concatenate([a, b])


def test_build_eqs_2_3_4_on_two_blobs():
    rng = np.random.default_rng(0)
    d = 3
    x0 = _two_blob_class(rng, np.array([0.0, 0, 0]), np.array([10.0, 0, 0]))
    x1 = _two_blob_class(rng, np.array([0.0, 10, 0]), np.array([0.0, 10, 10]))
    x0, x1 = x0.astype(np.float32), x1.astype(np.float32)  # exactly representable in the float32 buffers
    feats = np.concatenate([x0, x1])
    labels = np.array([0] * len(x0) + [1] * len(x1))
    mem = SemanticMemory.build(feats, labels, num_clusters=2, num_reps=2, seed=0)
    assert (mem.num_classes, mem.num_reps, mem.dim) == (2, 4, d)
    assert mem.class_mask.all() and mem.rep_mask.all()
    # eq. 2: global centroid is the class mean
    torch.testing.assert_close(
        mem.centroids[0].double(), torch.from_numpy(x0.astype(np.float64).mean(0)), rtol=0, atol=1e-6
    )
    # eqs. 3-4: each block of m=2 slots holds the 2 members nearest the mean of one blob
    for c, xc in ((0, x0), (1, x1)):
        blobs = [xc[:6], xc[6:]]
        expected = []
        for blob in blobs:
            dist = np.linalg.norm(blob - blob.mean(0), axis=1)
            expected.append({tuple(blob[i].tolist()) for i in np.argsort(dist)[:2]})
        got = [{tuple(r.tolist()) for r in mem.reps[c, j * 2 : j * 2 + 2].numpy()} for j in range(2)]
        assert sorted(map(sorted, got)) == sorted(map(sorted, expected))


def test_build_is_reproducible_for_a_seed():
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((90, 5))
    labels = rng.integers(0, 3, 90)
    a = SemanticMemory.build(feats, labels, num_clusters=3, num_reps=2, seed=7)
    b = SemanticMemory.build(feats, labels, num_clusters=3, num_reps=2, seed=7)
    for name in ("centroids", "reps", "rep_mask", "class_mask"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_small_and_absent_classes_are_masked_never_duplicated():
    rng = np.random.default_rng(2)
    small = rng.standard_normal((3, 4))  # class 0: 3 < k*m = 4 samples
    big = rng.standard_normal((20, 4)) + 5  # class 2; class 1 absent
    feats = np.concatenate([small, big])
    labels = np.array([0, 0, 0] + [2] * 20)
    mem = SemanticMemory.build(feats, labels, num_clusters=2, num_reps=2, num_classes=4)
    assert mem.class_mask.tolist() == [True, False, True, False]
    assert int(mem.rep_mask[0].sum()) == 3  # every sample used once, one slot left empty
    valid = mem.reps[0][mem.rep_mask[0]].double().numpy()
    assert {tuple(np.round(v, 6)) for v in valid} == {tuple(np.round(s, 6)) for s in small}
    assert torch.count_nonzero(mem.reps[0][~mem.rep_mask[0]]) == 0
    for c in (1, 3):  # absent: zeros, no valid rep
        assert not mem.rep_mask[c].any()
        assert torch.count_nonzero(mem.centroids[c]) == 0 and torch.count_nonzero(mem.reps[c]) == 0
    assert mem.rep_mask[2].all()
    mem.check()


def test_build_rejects_bad_input():
    with pytest.raises(ValueError, match="labels must be"):
        SemanticMemory.build(np.zeros((4, 2)), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="NaN"):
        SemanticMemory.build(np.full((4, 2), np.nan), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="out of range"):
        SemanticMemory.build(np.zeros((4, 2)), np.array([0, 1, 2, 5]), num_classes=3)


@functools.cache
def _built(seed):
    rng = np.random.default_rng(seed)
    return SemanticMemory.build(rng.standard_normal((40, 6)), rng.integers(0, 4, 40), num_clusters=2, num_reps=2)


def _random_mem(seed=0):
    return copy.deepcopy(_built(seed))


def test_save_load_round_trip_is_exact(tmp_path):
    mem = _random_mem()
    path = tmp_path / "mem.pt"
    mem.save(path)
    back = SemanticMemory.load(path, expected_dim=6, expected_num_classes=4)
    for name in ("centroids", "reps", "rep_mask", "class_mask"):
        assert torch.equal(getattr(mem, name), getattr(back, name)), name
    assert (back.num_clusters, back.reps_per_cluster) == (2, 2)


def test_state_dict_holds_the_memory():
    mem = _random_mem()
    sd = mem.state_dict()
    assert set(sd) == {"centroids", "reps", "rep_mask", "class_mask"}
    empty = SemanticMemory.empty(mem.num_classes, mem.num_reps, mem.dim)
    assert empty.num_present == 0
    empty.load_state_dict(sd)
    assert torch.equal(empty.reps, mem.reps) and torch.equal(empty.class_mask, mem.class_mask)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda o: o.__setitem__("reps", o["reps"][:, :, :-1]), "wrong shape"),
        (lambda o: o.__setitem__("rep_mask", o["rep_mask"][:, :1]), "wrong shape"),
        (lambda o: o["centroids"].__setitem__((0, 0), float("nan")), "NaN or inf"),
        (lambda o: o["reps"].__setitem__((1, 0, 0), float("inf")), "NaN or inf"),
        (lambda o: o.pop("class_mask"), "lacks"),
    ],
)
def test_load_refuses_corrupt_files_naming_file_and_problem(tmp_path, corrupt, message):
    path = tmp_path / "bad_mem.pt"
    _random_mem().save(path)
    obj = torch.load(path, weights_only=True)
    corrupt(obj)
    torch.save(obj, path)
    with pytest.raises(ValueError, match=message) as err:
        SemanticMemory.load(path)
    assert "bad_mem.pt" in str(err.value)


def test_load_refuses_dim_and_class_mismatch(tmp_path):
    path = tmp_path / "mem.pt"
    _random_mem().save(path)
    with pytest.raises(ValueError, match="dim mismatch.*6.*expects 8"):
        SemanticMemory.load(path, expected_dim=8)
    with pytest.raises(ValueError, match="class-count mismatch"):
        SemanticMemory.load(path, expected_num_classes=71)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        SemanticMemory.load(tmp_path / "nope.pt")


def test_from_official_bank_array_and_npy(tmp_path):
    bank = np.random.default_rng(3).standard_normal((7, 5, 8)).astype(np.float32)
    bank[0] = 0.0  # an all-zero row stays selectable, as in the official code
    path = tmp_path / "1s_k5_feabank.npy"
    np.save(path, bank)
    for src in (bank, torch.from_numpy(bank), path):
        mem = SemanticMemory.from_official(src)
        assert torch.equal(mem.reps, torch.from_numpy(bank))
        assert torch.equal(mem.centroids, torch.from_numpy(bank).mean(1))
        assert mem.rep_mask.all() and mem.class_mask.all()
    bad = bank.copy()
    bad[2, 1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SemanticMemory.from_official(bad)
    with pytest.raises(ValueError, match="feature dim 8, expected 768"):
        SemanticMemory.from_official(path, expected_dim=768)
    with pytest.raises(ValueError, match=r"\[C, m, d\]"):
        SemanticMemory.from_official(bank[0])
