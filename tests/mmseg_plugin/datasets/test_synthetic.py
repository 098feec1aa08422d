"""Synthetic AV set: determinism, atomic cache, layout, distractor rules, audio/visual class identifiability."""

import colorsys
import csv
import json
import os
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mmseg_plugin.datasets import AVSSemanticDataset, AVSSyntheticDataset
from mmseg_plugin.datasets.palette import decode_label_file
from mmseg_plugin.synthetic import CLASS_SPECS, MANIFEST_NAME, SyntheticConfig, generate_synthetic_avs
from mmseg_plugin.synthetic.__main__ import main as cli_main
from mmseg_plugin.synthetic.generator import _draw_clip, _render_frame

pytestmark = pytest.mark.mmseg

SMALL = dict(num_train=8, num_val=3, num_test=3)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_synthetic_avs(tmp_path / "a", seed=3, **SMALL)
    b = generate_synthetic_avs(tmp_path / "b", seed=3, **SMALL)
    c = generate_synthetic_avs(tmp_path / "c", seed=4, **SMALL)
    assert a["content_sha256"] == b["content_sha256"] != c["content_sha256"]
    for rel in ("metadata.csv", "label2idx.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    wav = next((tmp_path / "a").glob("v1*/*/audio.wav")).relative_to(tmp_path / "a")
    assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]  # no temporary folders left behind


def test_cache_reuse_and_parameter_mismatch(tmp_path):
    root = tmp_path / "syn"
    m1 = generate_synthetic_avs(root, seed=0, **SMALL)
    stamp = os.path.getmtime(root / MANIFEST_NAME)
    m2 = generate_synthetic_avs(root, seed=0, **SMALL)
    assert m1 == m2 and os.path.getmtime(root / MANIFEST_NAME) == stamp
    with pytest.raises(FileExistsError, match=r"other parameters .*'seed': \(0, 1\)"):
        generate_synthetic_avs(root, seed=1, **SMALL)
    m3 = generate_synthetic_avs(root, seed=1, overwrite=True, **SMALL)
    assert m3["seed"] == 1 and m3["content_sha256"] != m1["content_sha256"]
    (tmp_path / "plain").mkdir()
    with pytest.raises(FileExistsError, match=f"has no {MANIFEST_NAME}"):
        generate_synthetic_avs(tmp_path / "plain", seed=0, **SMALL)


def test_layout_matches_avss_and_loader_reads_it(tmp_path):
    root = tmp_path / "syn"
    man = generate_synthetic_avs(root, seed=0, **SMALL)
    assert json.loads((root / "label2idx.json").read_text()) == {"background": 1, **{
        CLASS_SPECS[c][0]: c + 2 for c in range(6)}}  # fmt: skip
    with open(root / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 14 and {r["label"] for r in rows} <= {"v1s", "v1m"}
    for r in rows:
        clip = root / r["label"] / r["uid"]
        assert sorted(os.listdir(clip / "frames")) == [f"{i}.jpg" for i in range(5)]
        n_labels = 1 if (r["label"] == "v1s" and r["split"] == "train") else 5
        assert len(os.listdir(clip / "labels_rgb")) == len(os.listdir(clip / "labels_semantic")) == n_labels
        assert len(r["a_obj"].split("_")) == (1 if r["label"] == "v1s" else len(r["a_obj"].split("_")))
    for split in ("train", "val", "test"):
        sets = [
            AVSSemanticDataset(str(root), split=split, label_source=src, check_files="all")
            for src in ("rgb", "semantic")
        ]
        for ds in sets:
            assert len(ds) > 0 and ds.metainfo["classes"] == tuple(man["classes"])
        for k in range(0, len(sets[0]), 7):  # labels_rgb and labels_semantic decode to the same maps
            a, b = (ds.get_data_info(k) for ds in sets)
            rgb = decode_label_file(a["seg_map_path"], "rgb_voc", num_classes=7)
            np.testing.assert_array_equal(rgb, decode_label_file(b["seg_map_path"], "index", num_classes=7))


def test_dataset_class_generates_then_loads(tmp_path):
    pipe = [dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow"),
            dict(type="PackAVSInputs")]  # fmt: skip
    ds = AVSSyntheticDataset(data_root=str(tmp_path / "cache"), seed=0, generator=SMALL, split="val", pipeline=pipe)
    out = ds[0]
    assert out["inputs"]["img"].shape == (3, 96, 96) and out["inputs"]["audio"].shape == (16000,)
    gt = out["data_samples"].gt_sem_seg.data
    assert set(gt.unique().tolist()) <= set(range(7))
    assert ds.metainfo["audio_sample_rate"] == 16000 and len(ds.metainfo["classes"]) == 7
    again = AVSSyntheticDataset(data_root=str(tmp_path / "cache"), seed=0, generator=SMALL, split="val")
    assert again.manifest["content_sha256"] == ds.manifest["content_sha256"]


def test_cli(tmp_path, capsys):
    assert cli_main(["--root", str(tmp_path / "cli"), "--seed", "2", "--num-train", "2", "--num-val", "1",
                     "--num-test", "1"]) == 0  # fmt: skip
    assert "synthetic set ready" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / MANIFEST_NAME).read_text())["seed"] == 2


def _draws(n, seed, subset=None, render=True):
    cfg = SyntheticConfig(seed=seed)
    out = []
    for k in range(n):
        rng = np.random.default_rng([seed, 9, k])
        sub = subset or ("v1m" if k % 2 else "v1s")
        clip = _draw_clip(cfg, rng, sub)
        frames = [_render_frame(cfg, clip, t, rng) for t in range(cfg.num_frames)] if render else None
        out.append((sub, clip, frames))
    return cfg, out


def test_distractors_and_activity_rules():
    cfg, draws = _draws(40, seed=5)
    n_silent = n_off = n_overlap = 0
    for sub, clip, frames in draws:
        labels = [lab for _, lab in frames]
        present = set(np.unique(np.stack(labels)).tolist()) - {0}
        if clip["silent"] is not None:
            n_silent += 1
            assert clip["silent"] + 1 not in present  # silent on-screen objects stay background
            img0 = frames[0][0].astype(float)
            assert img0.std() > 0
        if clip["offscreen"] is not None:
            n_off += 1
            assert clip["offscreen"] + 1 not in present and clip["offscreen"] not in clip["sounding"]
        assert len(clip["sounding"]) == (1 if sub == "v1s" else len(clip["sounding"])) and present <= {
            c + 1 for c in clip["sounding"]}  # fmt: skip
        for o in clip["objects"]:
            for t, (_, lab) in enumerate(frames):
                if not o["active"][t]:
                    assert not (lab == o["cls"] + 1).any()
        n_overlap += sum(sum(o["active"][t] for o in clip["objects"]) > 1 for t in range(cfg.num_frames))
    assert n_silent > 5 and n_off > 5 and n_overlap > 5


def _band_features(x, sr=16000, bands=40):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    edges = np.geomspace(60, sr / 2, bands + 1)
    e = np.array([spec[(f >= lo) & (f < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    env = np.abs(x).reshape(-1, 160).mean(1)  # 10-ms envelope -> rhythm / AM features
    mod = np.abs(np.fft.rfft(env - env.mean()))[1:30]
    return np.concatenate([np.log(e + 1e-8), np.log(mod + 1e-6)])


def _audio_dataset(draws, cfg):
    X, Y = [], []
    for _, clip, _ in draws:
        for t in range(cfg.num_frames):
            x = clip["audio"][t * cfg.sample_rate : (t + 1) * cfg.sample_rate]
            audible = {o["cls"] for o in clip["objects"] if o["active"][t]}
            if clip["offscreen"] is not None:
                audible.add(clip["offscreen"])
            X.append(_band_features(x))
            Y.append([c in audible for c in range(cfg.num_classes)])
    return np.array(X), np.array(Y)


def test_sound_classes_identifiable_from_audio_alone():
    cfg, train = _draws(60, seed=11, render=False)
    _, test = _draws(24, seed=12, render=False)
    Xtr, Ytr = _audio_dataset(train, cfg)
    Xte, Yte = _audio_dataset(test, cfg)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    for c in range(cfg.num_classes):
        clf = LogisticRegression(max_iter=2000, C=1.0).fit((Xtr - mu) / sd, Ytr[:, c])
        pred = clf.predict((Xte - mu) / sd)
        tpr = (pred & Yte[:, c]).sum() / Yte[:, c].sum()
        tnr = (~pred & ~Yte[:, c]).sum() / (~Yte[:, c]).sum()
        assert (tpr + tnr) / 2 > 0.9, (CLASS_SPECS[c][3], tpr, tnr)


def test_object_classes_identifiable_from_colour():
    cfg, draws = _draws(40, seed=21, subset="v1s")
    hues, cls = [], []
    for _, clip, frames in draws:
        img, lab = frames[0]
        c = clip["sounding"][0]
        px = img[lab == c + 1].astype(float) / 255
        if len(px) < 20:
            continue
        hues.append(colorsys.rgb_to_hsv(*px.mean(0))[0] * 360)
        cls.append(c)
    centres = np.array([CLASS_SPECS[c][2] for c in range(cfg.num_classes)])
    dist = np.abs((np.array(hues)[:, None] - centres[None] + 180) % 360 - 180)
    assert (dist.argmin(1) == np.array(cls)).mean() > 0.95


@pytest.mark.slow
def test_default_set_generates_under_a_minute(tmp_path):
    t0 = time.perf_counter()
    man = generate_synthetic_avs(tmp_path / "full", seed=0)
    assert time.perf_counter() - t0 < 60
    assert sum(sum(v.values()) for v in man["counts"].values()) == 320
