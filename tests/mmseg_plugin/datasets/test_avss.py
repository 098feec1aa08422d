"""AVSSemanticDataset: real split counts, per-frame items and windows, unlabelled frames, subsets, layout errors."""

import collections
import os
import shutil

import pytest

from mmseg_plugin.datasets import AVSSemanticDataset, LayoutError

pytestmark = pytest.mark.mmseg

SHARED = "/work/shared/data"


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("avss_real")
    shutil.copy(os.path.join(SHARED, "avss_metadata.csv"), root / "metadata.csv")
    shutil.copy(os.path.join(SHARED, "avss_label2idx.json"), root / "label2idx.json")
    return str(root)


def test_real_metadata_split_counts(real_root):
    expected = {"v1s": (3452, 740, 740), "v1m": (296, 64, 64), "v2": (4750, 500, 750)}
    frames = {}
    for j, split in enumerate(("train", "val", "test")):
        ds = AVSSemanticDataset(real_root, split=split, check_files="none", lazy_init=False)
        clips = collections.defaultdict(set)
        for k in range(len(ds)):
            info = ds.get_data_info(k)
            clips[info["subset"]].add(info["clip_id"])
        for subset, counts in expected.items():
            assert len(clips[subset]) == counts[j], (split, subset)
        frames[split] = len(ds)
        assert len(ds.metainfo["classes"]) == 71 and ds.metainfo["classes"][0] == "background"
    # labelled frames: v1s train only frame 0 (field notes §1.10: 52,432 train / 11,520 eval frames)
    assert frames["train"] == 3452 + 296 * 5 + 4750 * 10 == 52432
    assert frames["val"] + frames["test"] == (740 + 740) * 5 + (64 + 64) * 5 + (500 + 750) * 10
    ds = AVSSemanticDataset(real_root, split="test", check_files="none")
    assert sum(ds.get_data_info(k)["subset"] == "v1s" for k in range(len(ds))) == 740 * 5


def test_fixture_items_windows_and_unlabelled(tmp_path, fx):
    fx.make_avss(str(tmp_path))
    ds = AVSSemanticDataset(str(tmp_path), split="train", check_files="all")
    infos = [ds.get_data_info(k) for k in range(len(ds))]
    assert len(infos) == 1 + 5 + 10 and ds.num_unlabelled_dropped == 4
    v1s = [i for i in infos if i["subset"] == "v1s"]
    assert [i["frame_index"] for i in v1s] == [0]
    v2 = [i for i in infos if i["subset"] == "v2"]
    assert [(i["audio_start"], i["audio_end"]) for i in v2] == [(float(k), float(k + 1)) for k in range(10)]
    first = infos[0]
    assert first["img_path"].endswith("v1s/vidA_0_5000/frames/0.jpg")
    assert first["seg_map_path"].endswith("v1s/vidA_0_5000/labels_rgb/0.png") and first["label_format"] == "rgb_voc"
    assert first["audio_path"].endswith("v1s/vidA_0_5000/audio.wav") and first["num_classes"] == 4
    keep = AVSSemanticDataset(str(tmp_path), split="train", keep_unlabelled=True, label_source="semantic")
    kinfos = [keep.get_data_info(k) for k in range(len(keep))]
    assert len(kinfos) == 20
    unl = [i for i in kinfos if not i["has_label"]]
    assert [(i["clip_id"], i["frame_index"]) for i in unl] == [("vidA_0_5000", k) for k in range(1, 5)]
    assert all(i["seg_map_path"] is None for i in unl)
    assert kinfos[0]["label_format"] == "index" and "labels_semantic" in kinfos[0]["seg_map_path"]


def test_subsets_and_splits(tmp_path, fx):
    fx.make_avss(str(tmp_path))
    ds = AVSSemanticDataset(str(tmp_path), split="train", subsets=("v2",))
    assert {ds.get_data_info(k)["subset"] for k in range(len(ds))} == {"v2"} and len(ds) == 10
    val = AVSSemanticDataset(str(tmp_path), split="val", subsets="v1s")
    assert len(val) == 5 and all(val.get_data_info(k)["has_label"] for k in range(5))  # val v1s: 5 labels
    with pytest.raises(ValueError, match="no items for split='test'.*subsets=\\('v1m',\\)"):
        AVSSemanticDataset(str(tmp_path), split="test", subsets=("v1m",))
    with pytest.raises(ValueError, match="subsets must be"):
        AVSSemanticDataset(str(tmp_path), subsets=("v3",))
    with pytest.raises(ValueError, match="split must be one of"):
        AVSSemanticDataset(str(tmp_path), split="dev")


def test_layout_errors_name_the_first_missing_file(tmp_path, fx):
    fx.make_avss(str(tmp_path))
    os.remove(tmp_path / "v1s/vidA_0_5000/labels_rgb/0.png")
    with pytest.raises(LayoutError, match=r"missing seg_map_path file .*v1s/vidA_0_5000/labels_rgb/0\.png"):
        AVSSemanticDataset(str(tmp_path), split="train")
    # the semantic labels are still there
    AVSSemanticDataset(str(tmp_path), split="train", label_source="semantic")
    # a missing file late in the list: found by check_files="all", not by "first"
    os.remove(tmp_path / "v2/vidC_0_10000/frames/9.jpg")
    AVSSemanticDataset(str(tmp_path), split="train", label_source="semantic", check_files="first")
    with pytest.raises(LayoutError, match=r"missing img_path file .*vidC_0_10000/frames/9\.jpg.*frame 9"):
        AVSSemanticDataset(str(tmp_path), split="train", label_source="semantic", check_files="all")
    os.remove(tmp_path / "v1m/vidB_1/audio.wav")
    with pytest.raises(LayoutError, match=r"missing audio_path file .*vidB_1/audio\.wav"):
        AVSSemanticDataset(str(tmp_path), split="train", label_source="semantic", subsets="v1m")


def test_malformed_metadata(tmp_path, fx):
    fx.make_avss(str(tmp_path))
    meta = tmp_path / "metadata.csv"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join([lines[0].replace(",label", ",subset")] + lines[1:]) + "\n")
    with pytest.raises(LayoutError, match=r"metadata\.csv lacks column\(s\) \['label'\]"):
        AVSSemanticDataset(str(tmp_path), check_files="none")
    meta.write_text("\n".join(lines[:2] + [lines[2].replace(",v1m", ",v9")]) + "\n")
    with pytest.raises(LayoutError, match=r"metadata\.csv line 3: bad label 'v9'"):
        AVSSemanticDataset(str(tmp_path), check_files="none")
    os.remove(tmp_path / "label2idx.json")
    with pytest.raises(LayoutError, match=r"missing label2idx\.json: .*label2idx\.json"):
        AVSSemanticDataset(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        AVSSemanticDataset(str(tmp_path / "nowhere"))
