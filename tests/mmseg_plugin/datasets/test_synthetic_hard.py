"""Harder synthetic AV set (preset "hard"): determinism, AVSS layout, split-disjoint voices / instances, distractors,
object sizes, sound classes invisible to order-free statistics, registration and tools/train.py."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from mmseg_plugin.datasets import AVSSemanticDataset, AVSSyntheticDataset
from mmseg_plugin.datasets.palette import decode_label_file
from mmseg_plugin.synthetic import HARD_CLASS_NAMES, MANIFEST_NAME, generate_synthetic_avs, generate_synthetic_set
from mmseg_plugin.synthetic.__main__ import main as cli_main
from mmseg_plugin.synthetic.hard_audio import ELEMENTS, NUM_WORDS, draw_voice, word_spec, word_stream

pytestmark = pytest.mark.mmseg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = dict(num_train=4, num_val=2, num_test=2, voices_train=6, voices_val=4, voices_test=5, instances_train=2,
            instances_val=1, instances_test=1)  # fmt: skip
SMALL = dict(TINY, num_train=16, num_val=4, num_test=6)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard") / "set"
    man = generate_synthetic_set(str(root), preset="hard", seed=0, **SMALL)
    with open(root / "clips.json") as f:
        clips = json.load(f)
    return root, man, clips


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_synthetic_set(tmp_path / "a", preset="hard", seed=3, **TINY)
    b = generate_synthetic_set(tmp_path / "b", preset="hard", seed=3, **TINY)
    c = generate_synthetic_set(tmp_path / "c", preset="hard", seed=4, **TINY)
    assert a["content_sha256"] == b["content_sha256"] != c["content_sha256"]
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert fa == fb  # every file, manifest included
    wavs = [k for k in fa if k.endswith("audio.wav")]
    assert len(wavs) == 8 and all(fa[k] != fc.get(k) for k in wavs if k in fc)
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]  # no temporary folders left behind


def test_manifest_records_parameters_and_cache_is_checked(tmp_path, small_set):
    _, man, _ = small_set
    assert man["preset"] == "hard" and man["seed"] == 0 and man["object_scale"] == 1.0 and man["image_size"] == 128
    assert (man["num_train"], man["num_val"], man["num_test"]) == (16, 4, 6)
    assert man["classes"] == ["background", *HARD_CLASS_NAMES] and len(man["classes"]) == 13
    assert {s: sum(v.values()) for s, v in man["counts"].items()} == {"train": 16, "val": 4, "test": 6}
    root = tmp_path / "basic"
    generate_synthetic_avs(root, seed=0, num_train=2, num_val=1, num_test=1)
    with pytest.raises(FileExistsError, match=r"other parameters .*'preset': \(None, 'hard'\)"):
        generate_synthetic_set(root, preset="hard", seed=0, **TINY)
    with pytest.raises(ValueError, match="unknown synthetic preset 'harder'"):
        generate_synthetic_set(tmp_path / "x", preset="harder")
    with pytest.raises(ValueError, match="bad generator parameters"):
        generate_synthetic_set(tmp_path / "y", preset="hard", num_clases=5)
    with pytest.raises(ValueError, match="object_scale"):
        generate_synthetic_set(tmp_path / "z", preset="hard", object_scale=5.0)


def test_layout_read_by_the_avss_loader(small_set):
    root, man, clips = small_set
    with open(root / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 26 and {r["label"] for r in rows} == {"v1s", "v1m"}
    assert json.loads((root / "label2idx.json").read_text()) == {
        "background": 1, **{n: i + 2 for i, n in enumerate(HARD_CLASS_NAMES)}}  # fmt: skip
    for r in rows:
        clip = root / r["label"] / r["uid"]
        assert sorted(os.listdir(clip / "frames")) == [f"{i}.jpg" for i in range(5)]
        assert sorted(os.listdir(clip / "labels_visible")) == [f"{i}.png" for i in range(5)]
        n_labels = 1 if (r["label"] == "v1s" and r["split"] == "train") else 5
        assert len(os.listdir(clip / "labels_rgb")) == len(os.listdir(clip / "labels_semantic")) == n_labels
        assert Image.open(clip / "frames" / "0.jpg").size == (128, 128)
        names = {HARD_CLASS_NAMES[o["cls"]] for o in clips[r["uid"]]["objects"] if any(o["active"])}
        assert set(r["a_obj"].split("_")) == names
    for split in ("train", "val", "test"):
        sets = [
            AVSSemanticDataset(str(root), split=split, label_source=s, check_files="all") for s in ("rgb", "semantic")
        ]
        for ds in sets:
            assert len(ds) > 0 and ds.metainfo["classes"] == tuple(man["classes"])
        for k in range(0, len(sets[0]), 5):
            a, b = (ds.get_data_info(k) for ds in sets)
            rgb = decode_label_file(a["seg_map_path"], "rgb_voc", num_classes=13)
            np.testing.assert_array_equal(rgb, decode_label_file(b["seg_map_path"], "index", num_classes=13))


def test_dataset_class_generates_then_loads(tmp_path):
    pipe = [dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow"),
            dict(type="PackAVSInputs")]  # fmt: skip
    kw = dict(data_root=str(tmp_path / "cache"), seed=0, preset="hard", generator=TINY)
    ds = AVSSyntheticDataset(split="test", pipeline=pipe, **kw)
    out = ds[0]
    assert out["inputs"]["img"].shape == (3, 128, 128) and out["inputs"]["audio"].shape == (16000,)
    assert set(out["data_samples"].gt_sem_seg.data.unique().tolist()) <= set(range(13))
    assert ds.metainfo["audio_sample_rate"] == 16000 and len(ds.metainfo["classes"]) == 13
    assert AVSSyntheticDataset(split="val", **kw).manifest["content_sha256"] == ds.manifest["content_sha256"]


def test_voices_and_instances_disjoint_between_splits(small_set):
    root, _, clips = small_set
    sources = json.loads((root / "sources.json").read_text())
    for split in ("train", "val", "test"):
        recs = [r for r in clips.values() if r["split"] == split]
        voices = {o["voice"] for r in recs for o in r["objects"] if o["voice"]} | {
            r["offscreen"]["voice"] for r in recs if r["offscreen"]}  # fmt: skip
        instances = {o["instance"] for r in recs for o in r["objects"]}
        assert voices and voices <= set(sources["voices"][split])
        assert instances <= set(sources["instances"][split])
    for kind in ("voices", "instances"):
        params = [json.dumps(p, sort_keys=True) for pool in sources[kind].values() for p in pool.values()]
        assert len(params) == len(set(params))  # no parameter set in two pools (or twice in one)
    f0 = {s: [v["f0"] for v in sources["voices"][s].values()] for s in ("train", "test")}
    assert not set(f0["train"]) & set(f0["test"])
    # a voice says several classes (the voice does not give the class away)
    said = {}
    for r in clips.values():
        for o in r["objects"]:
            if o["voice"]:
                said.setdefault(o["voice"], set()).add(o["cls"])
    assert max(len(c) for c in said.values()) >= 2


def test_silent_offscreen_overlap_and_masks_follow_activity(small_set):
    root, man, clips = small_set
    n_silent = n_visible = n_off = n_multi = n_occluded = 0
    for uid, r in clips.items():
        classes = [o["cls"] for o in r["objects"]] + ([r["offscreen"]["cls"]] if r["offscreen"] else [])
        assert len(classes) == len(set(classes))  # distinct classes: the semantic task is well posed
        n_off += r["offscreen"] is not None
        for t in range(5):
            vis = np.asarray(Image.open(root / r["subset"] / uid / "labels_visible" / f"{t}.png"))
            sem_path = root / r["subset"] / uid / "labels_semantic" / f"{t}.png"
            sem = np.asarray(Image.open(sem_path)) if sem_path.exists() else None
            audible = sum(o["active"][t] for o in r["objects"]) + bool(r["offscreen"] and r["offscreen"]["active"][t])
            n_multi += audible >= 2
            for o in r["objects"]:
                n_visible += 1
                n_silent += not o["active"][t]
                shown = int((vis == o["cls"] + 1).sum())
                full = o["area_pct"][t] * 128 * 128 / 100
                assert shown <= full + 1
                n_occluded += shown < 0.95 * full
                if sem is not None:
                    assert int((sem == o["cls"] + 1).sum()) == (shown if o["active"][t] else 0)
            if sem is not None:
                assert ((sem == 0) | (sem == vis)).all()
                if r["offscreen"]:
                    assert not (sem == r["offscreen"]["cls"] + 1).any()
    assert n_off >= 3 and n_multi >= 10 and n_occluded >= 5
    assert 0.35 < n_silent / n_visible < 0.75
    st = man["stats"]["train"]
    assert 0.3 < st["silent_object_fraction"] < 0.65 and st["offscreen_clip_fraction"] > 0
    assert st["multi_source_frame_fraction"] > 0.2


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_object_area_follows_object_scale(tmp_path, scale, small_set):
    if scale == 1.0:
        clips = small_set[2]
    else:
        generate_synthetic_set(tmp_path / "s", preset="hard", seed=2, object_scale=scale, **TINY)
        clips = json.loads((tmp_path / "s" / "clips.json").read_text())
    areas = np.array([a for r in clips.values() for o in r["objects"] for a in o["area_pct"]])
    assert len(areas) > 20
    assert areas.min() >= 3 * scale * 0.9 and areas.max() <= 10 * scale * 1.1
    assert areas.max() - areas.min() > 2 * scale  # sizes vary


def test_words_share_elements_and_differ_in_cyclic_order_or_rhythm():
    specs = [word_spec(c) for c in range(NUM_WORDS)]
    assert NUM_WORDS >= 10 and len(HARD_CLASS_NAMES) == NUM_WORDS
    for order, gaps in specs:
        assert sorted(order) == sorted(ELEMENTS) and sum(gaps) == pytest.approx(sum(specs[0][1]))

    def canon(order, gaps):  # a repeating word is only observable up to a cyclic shift
        seq = [(e, g) for e, g in zip(order, list(gaps) + [None])]
        return min(tuple(seq[i:] + seq[:i]) for i in range(len(seq)))

    assert len({canon(*s) for s in specs}) == NUM_WORDS
    with pytest.raises(ValueError, match="word class"):
        word_spec(NUM_WORDS)


def _band_stats(x, sr=16000, bands=40):
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160] * np.hanning(400)
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(400, 1 / sr)
    edges = np.geomspace(60, 7800, bands + 1)
    e = np.stack([spec[:, (f >= lo) & (f < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    le = np.log(e + 1e-8)
    return np.concatenate([le.mean(0) - le.mean(), le.std(0)])  # order-free: pitch, timbre, spread


def test_class_not_recoverable_from_order_free_statistics():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.preprocessing import StandardScaler

    X, y = [], []
    for v in range(10):
        voice = draw_voice(np.random.default_rng([7, v]))
        for c in range(NUM_WORDS):
            X.append(_band_stats(word_stream(voice, c, np.random.default_rng([8, v, c]), 16000)))
            y.append(c)
    X = StandardScaler().fit_transform(np.array(X))
    acc = cross_val_score(LogisticRegression(max_iter=2000), X, np.array(y), cv=5).mean()
    assert acc < 0.3  # chance 1/12; the class lives in the element order and rhythm only
    # the same statistics do identify the voice (they are informative, just not about the class)
    yv = np.repeat(np.arange(10), NUM_WORDS)
    assert cross_val_score(LogisticRegression(max_iter=2000), X, yv, cv=5).mean() > 0.8


def test_cli_and_train_tool_handle_the_preset(tmp_path, capsys, tool):
    assert cli_main(["--root", str(tmp_path / "cli"), "--preset", "hard", "--seed", "2", "--num-train", "2",
                     "--num-val", "1", "--num-test", "1", "--object-scale", "0.8"]) == 0  # fmt: skip
    assert "synthetic set ready" in capsys.readouterr().out
    man = json.loads((tmp_path / "cli" / MANIFEST_NAME).read_text())
    assert (man["seed"], man["preset"], man["object_scale"]) == (2, "hard", 0.8)
    from mmengine.config import Config

    train = tool("train")
    train.import_plugin()
    cfg = Config.fromfile(os.path.join(REPO, "configs", "ddeseg_synthetic_hard.py"))
    assert cfg.train_dataloader.dataset.preset == "hard" and cfg.train_dataloader.dataset.data_root == cfg.data_root
    train.apply_data_root(cfg, str(tmp_path / "tool"))
    cfg.train_dataloader.dataset.generator = dict(TINY)
    assert train.apply_avss_classes(cfg) == 13  # generated here on first use, as the dataset does
    assert json.loads((tmp_path / "tool" / MANIFEST_NAME).read_text())["preset"] == "hard"
    assert cfg.model.net.num_classes == 13 == cfg.audio_classifier.model.num_classes


def test_basic_preset_also_writes_visible_maps(tmp_path):
    root = tmp_path / "basic"
    generate_synthetic_avs(root, seed=0, num_train=6, num_val=3, num_test=3)
    silent_pixels = 0
    for clip in sorted(root.glob("v1*/*")):
        assert sorted(os.listdir(clip / "labels_visible")) == [f"{i}.png" for i in range(5)]
        for t in range(5):
            vis_img = Image.open(clip / "labels_visible" / f"{t}.png")
            assert vis_img.mode == "P" and vis_img.size == (96, 96)
            vis = np.asarray(vis_img)
            sem_path = clip / "labels_semantic" / f"{t}.png"
            if sem_path.exists():
                sem = np.asarray(Image.open(sem_path))
                assert ((sem == 0) | (sem == vis)).all()  # sounding objects are visible objects with the same class
                silent_pixels += int(((vis > 0) & (sem == 0)).sum())
    assert silent_pixels > 0  # silent on-screen objects (and inactive seconds) appear in the visible maps only


def test_visible_label_source_reads_every_on_screen_object_for_the_same_frames(small_set):
    root, _, _ = small_set
    for split in ("train", "test"):
        kw = dict(preset="hard", split=split, generator=SMALL, test_mode=split != "train")
        sounding = AVSSyntheticDataset(str(root), **kw)
        visible = AVSSyntheticDataset(str(root), label_source="visible", **kw)
        assert len(sounding) == len(visible) > 0
        grew = 0
        for i in range(len(sounding)):
            a, b = sounding.get_data_info(i), visible.get_data_info(i)
            assert a["img_path"] == b["img_path"] and a["has_label"] == b["has_label"]
            if not b["has_label"]:
                assert b["seg_map_path"] is None
                continue
            assert b["label_format"] == "index" and "/labels_visible/" in b["seg_map_path"].replace(os.sep, "/")
            gt = decode_label_file(a["seg_map_path"], a["label_format"], num_classes=13)
            vis = decode_label_file(b["seg_map_path"], b["label_format"], num_classes=13)
            assert np.array_equal(vis[gt > 0], gt[gt > 0])  # every sounding object pixel is a visible one, same class
            grew += int((vis > 0).sum() > (gt > 0).sum())
        assert grew > 0  # silent on-screen objects exist in the set


def test_bad_label_source_is_a_clear_error(small_set):
    root, _, _ = small_set
    with pytest.raises(ValueError, match=r"label_source must be one of .*'visible'.*'depth'"):
        AVSSyntheticDataset(str(root), preset="hard", split="val", generator=SMALL, label_source="depth")
