"""tools/check_dataset.py and mmseg_plugin.datasets.validation on a tiny synthetic set and corrupt copies of it."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

pytestmark = pytest.mark.mmseg


@pytest.fixture(scope="module")
def clean(tmp_path_factory, tool, tiny_synthetic_config):
    """(tool module, config path, data root, clean run's JSON report); the clean run generates the set."""
    base = tmp_path_factory.mktemp("check_dataset")
    cfg = tiny_synthetic_config(base)
    check = tool("check_dataset")
    out = str(base / "clean.json")
    rc = check.main([cfg, "--no-progress", "--json", out])
    with open(out) as f:
        report = json.load(f)
    return check, cfg, str(base / "data"), rc, report


def _clips(root):
    """metadata.csv rows as (split, subset, uid)."""
    with open(os.path.join(root, "metadata.csv")) as f:
        return [(r["split"], r["label"], r["uid"]) for r in csv.DictReader(f)]


def _clip_dir(root, split, subset=None):
    for s, sub, uid in _clips(root):
        if s == split and (subset is None or sub == subset):
            return os.path.join(root, sub, uid)
    raise AssertionError(f"no {split}/{subset} clip in {root}")


def test_clean_set_passes_with_a_true_report(clean):
    _, _, root, rc, report = clean
    assert rc == 0 and report["problems"] == 0
    splits = {s["split"]: s for s in report["splits"]}
    assert sorted(splits) == ["test", "train", "val"]
    clips = _clips(root)
    for split, rep in splits.items():
        mine = [(sub, uid) for s, sub, uid in clips if s == split]
        assert rep["clips"] == len(mine) and rep["frames"] == 5 * len(mine)  # unlabelled frames are checked too
        assert rep["audio_files"] == len(mine) and rep["problems"] == []
        # labelled frames: as AVSS, a v1s train clip has only frame 0's mask
        n_v1s = sum(sub == "v1s" for sub, _ in mine)
        expected_labelled = (n_v1s + 5 * (len(mine) - n_v1s)) if split == "train" else 5 * len(mine)
        assert rep["labelled_frames"] == expected_labelled
        # class presence per frame, counted independently from the index PNGs (the report decodes labels_rgb)
        with open(os.path.join(root, "label2idx.json")) as f:
            names = {v - 1: k for k, v in json.load(f).items()}
        counts = {}
        for sub, uid in mine:
            for i in range(5):
                p = os.path.join(root, sub, uid, "labels_rgb", f"{i}.png")
                if split == "train" and sub == "v1s" and i > 0:
                    continue
                sem = np.asarray(Image.open(os.path.join(root, sub, uid, "labels_semantic", f"{i}.png")))
                assert os.path.isfile(p)
                for v in np.unique(sem):
                    counts[names[int(v)]] = counts.get(names[int(v)], 0) + 1
        assert rep["class_frames"] == counts
        assert len(counts) >= 2  # background and at least one object class


def _corrupt_copy(root, dest, how):
    """Copy the clean set to ``dest`` and damage one file; returns the expected {(check, path)} problems."""
    shutil.copytree(root, dest)
    if how == "deleted_later_frame":
        clip = _clip_dir(dest, "train", "v1m")
        path = os.path.join(clip, "frames", "3.jpg")
        os.remove(path)
        return {("frame", path), ("frame_count", os.path.join(clip, "frames"))}
    if how == "truncated_jpeg":
        path = os.path.join(_clip_dir(dest, "val"), "frames", "2.jpg")
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        return {("frame", path)}
    if how == "unknown_label_colour":
        path = os.path.join(_clip_dir(dest, "test"), "labels_rgb", "1.png")
        rgb = np.asarray(Image.open(path).convert("RGB")).copy()
        rgb[3, 4] = (7, 7, 7)
        Image.fromarray(rgb).save(path)
        return {("label", path)}
    if how == "short_audio":
        path = os.path.join(_clip_dir(dest, "train", "v1s"), "audio.wav")
        wave, sr = sf.read(path, dtype="int16")
        sf.write(path, wave[: int(3.2 * sr)], sr, subtype="PCM_16")  # frame 4's window [4, 5) s has no audio
        return {("audio", path)}
    if how == "extra_frame":
        clip = _clip_dir(dest, "val")
        shutil.copy(os.path.join(clip, "frames", "4.jpg"), os.path.join(clip, "frames", "5.jpg"))
        return {("frame_count", os.path.join(clip, "frames"))}
    raise ValueError(how)


@pytest.mark.parametrize(
    "how", ["deleted_later_frame", "truncated_jpeg", "unknown_label_colour", "short_audio", "extra_frame"]
)
def test_each_corruption_is_reported_with_its_file(clean, tmp_path, capsys, how):
    check, cfg, root, _, _ = clean
    dest = str(tmp_path / "data")
    expected = _corrupt_copy(root, dest, how)
    out = str(tmp_path / "report.json")
    capsys.readouterr()
    rc = check.main([cfg, "--data-root", dest, "--no-progress", "--json", out])
    text = capsys.readouterr().out
    assert rc == 1
    with open(out) as f:
        report = json.load(f)
    problems = [p for s in report["splits"] for p in s["problems"]]
    assert {(p["check"], p["path"]) for p in problems} == expected, problems
    assert report["problems"] == len(expected)
    for _, path in expected:
        assert path in text  # named in the printed report
    assert "FAILED" in text
    by_check = {p["check"]: p for p in problems}
    if how == "deleted_later_frame":
        assert by_check["frame"]["frame_index"] == 3 and "missing" in by_check["frame"]["message"]
        assert "3.jpg" in by_check["frame_count"]["message"] and "requires 5" in by_check["frame_count"]["message"]
    if how == "truncated_jpeg":
        assert "truncated" in by_check["frame"]["message"]
    if how == "unknown_label_colour":
        assert "(7, 7, 7)" in by_check["label"]["message"] and by_check["label"]["frame_index"] == 1
    if how == "short_audio":
        msg = by_check["audio"]["message"]
        assert "too short" in msg and "3.200 s" in msg and by_check["audio"]["frame_index"] == 3
    if how == "extra_frame":
        assert "unexpected: ['5.jpg']" in by_check["frame_count"]["message"]


def test_split_selection_and_padding_tolerance(clean, tmp_path):
    check, cfg, root, _, _ = clean
    dest = str(tmp_path / "data")
    _corrupt_copy(root, dest, "short_audio")  # a train clip
    out = str(tmp_path / "r.json")
    assert check.main([cfg, "--data-root", dest, "--split", "val", "test", "--no-progress", "--json", out]) == 0
    assert [s["split"] for s in json.load(open(out))["splits"]] == ["val", "test"]
    # 3.2 s of audio: frame 4 needs 1 s of padding; allowing it makes the set pass
    assert check.main([cfg, "--data-root", dest, "--split", "train", "--no-progress", "--max-pad-seconds", "1"]) == 0


def test_unbuildable_split_is_one_named_problem(clean, tmp_path, capsys):
    check, cfg, root, _, _ = clean
    dest = str(tmp_path / "data")
    shutil.copytree(root, dest)
    os.remove(os.path.join(dest, "metadata.csv"))
    capsys.readouterr()
    assert check.main([cfg, "--data-root", dest, "--split", "train", "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "dataset:" in text and os.path.join(dest, "metadata.csv") in text


LAYOUTS = {
    # name: (fixture writer, dataset cfg, split, frames (= items, unlabelled included), labelled frames)
    "avss_rgb": ("make_avss", dict(type="AVSSemanticDataset"), "train", 20, 16),
    "avss_semantic": ("make_avss", dict(type="AVSSemanticDataset", label_source="semantic"), "test", 10, 10),
    "ddeseg": ("make_ddeseg", dict(type="DDESegOfficialAVSSDataset"), "train", 16, 16),
    "s4_wav": ("make_s4", dict(type="AVSObjectS4Dataset"), "train", 5, 1),
    "s4_log_mel": ("make_s4", dict(type="AVSObjectS4Dataset", audio_source="log_mel_pkl"), "val", 5, 5),
    "ms3": ("make_ms3", dict(type="AVSObjectMS3Dataset"), "test", 5, 5),
    "vpo_ss": ("make_vpo", dict(type="VPODataset", setting="ss"), "train", 1, 1),
    "vpo_ms": ("make_vpo", dict(type="VPODataset", setting="ms"), "train", 1, 1),
    "vpo_msmi": ("make_vpo", dict(type="VPODataset", setting="msmi"), "train", 2, 2),
}


def _fixtures():
    """tests/mmseg_plugin/fixtures.py (the layout writers; the `fx` fixture of datasets/), loaded once."""
    import importlib.util
    import sys

    name = "avs_layout_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "fixtures.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_dataset_layout_validates_and_reports_a_missing_frame(tmp_path, tool, name):
    """Clean fixture layouts of every registered dataset type pass; a deleted frame is then reported by name."""
    from mmseg_plugin.apis.scope import import_plugin

    import_plugin()
    from mmseg_plugin.datasets.validation import validate_split

    writer, ds_cfg, split, n_frames, n_labelled = LAYOUTS[name]
    root = str(tmp_path / "root")
    fx = _fixtures()
    getattr(fx, writer)(root, ds_cfg["setting"]) if writer == "make_vpo" else getattr(fx, writer)(root)
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAVSAnnotations"), dict(type="LoadAudioWindow")]
    cfg = dict(ds_cfg, data_root=root, split=split, pipeline=pipeline)
    report = validate_split(cfg)
    assert [str(p) for p in report.problems] == []
    assert (report.frames, report.labelled_frames) == (n_frames, n_labelled)
    assert report.audio_files >= 1 and report.class_frames and sum(report.class_frames.values()) >= n_labelled

    from mmseg.registry import DATASETS

    ds = DATASETS.build(dict(cfg, pipeline=[], keep_unlabelled=True))
    items = [ds.get_data_info(i) for i in range(len(ds))]
    victim = items[-1]["img_path"]
    os.remove(victim)
    problems = validate_split(cfg).problems
    frame = [p for p in problems if p.check == "frame"]
    assert len(frame) == 1 and frame[0].path == victim and frame[0].index == len(items) - 1
    # a layout with a fixed frame count also reports the clip's folder; VPO's still images do not
    assert {p.check for p in problems} <= {"frame", "frame_count"}
    assert ("frame_count" in {p.check for p in problems}) == (
        name in ("avss_rgb", "avss_semantic", "s4_wav", "s4_log_mel", "ms3")
    )
