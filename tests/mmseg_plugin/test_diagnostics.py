"""The main job's diagnostics (mmseg_plugin/diagnostics.py, AblateAudio): floors, the visual-only oracle, audio
zeroed / shuffled through the real test path, the derangement, and the near-floor warning."""

import os
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmseg_plugin import diagnostics as D

pytestmark = pytest.mark.mmseg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_synthetic_config):
    """A tiny generated synthetic set (3 classes + background, 4 test clips) and its config."""
    from mmseg.registry import DATASETS

    import mmseg_plugin.registry  # noqa: F401
    from mmseg_plugin.apis.scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    tmp = tmp_path_factory.mktemp("diag")
    cfg = Config.fromfile(tiny_synthetic_config(tmp, train=2, test=4))
    ds = DATASETS.build(cfg.test_dataloader.dataset.to_dict())  # generates the set
    return dict(cfg=cfg, ds=ds, tmp=tmp, root=cfg.test_dataloader.dataset.data_root)


# ---------------------------------------------------------------- derangement
@pytest.mark.parametrize("n", [2, 3, 5, 17, 100])
def test_derangement_is_a_permutation_without_fixed_point(n):
    for seed in range(20):
        perm = D.derangement(n, seed)
        assert sorted(perm) == list(range(n))
        assert all(p != i for i, p in enumerate(perm))
    assert D.derangement(n, 3) == D.derangement(n, 3)  # seeded: fixed


def test_derangement_varies_with_seed_and_refuses_one_item():
    assert len({tuple(D.derangement(10, s)) for s in range(10)}) > 1
    with pytest.raises(ValueError, match="at least 2"):
        D.derangement(1)


# ---------------------------------------------------------------- warning
def _m(jf):
    return {"J&F": jf, "avsbench/J&F": jf}


def test_floor_warning_fires_within_two_points():
    floor = _m(13.31)
    assert D.floor_warning("val", _m(15.30), floor) is not None  # 1.99 above
    assert D.floor_warning("val", _m(13.31), floor) is not None
    assert D.floor_warning("val", _m(10.0), floor) is not None  # below the floor
    assert D.floor_warning("val", _m(15.32), floor) is None  # 2.01 above
    assert D.floor_warning("val", _m(64.80), floor) is None
    assert D.floor_warning("val", None, floor) is None  # unknown: nothing to say


def test_floor_warning_names_the_causes_the_diagnostics_point_at():
    text = D.floor_warning(
        "test", _m(14.0), _m(13.31), zeroed=_m(14.1), shuffled=_m(13.9), audio_map=40.0, baseline_map=55.0
    )
    assert "WARNING" in text and "test J&F 14.00" in text and "13.31" in text
    assert "does not use its audio" in text and "no better than the CNN baseline" in text
    listening = D.floor_warning("test", _m(14.0), _m(13.31), zeroed=_m(4.0), shuffled=_m(6.0))
    assert "does not use its audio" not in listening


# ---------------------------------------------------------------- floors and oracle
def test_all_background_scores_only_the_background_class(tiny):
    m = D.all_background_metrics(tiny["cfg"], "test")
    n_cls = len(tiny["ds"].metainfo["classes"])
    assert m["num_frames"] == len(tiny["ds"])
    # per-frame semantic mIoU over all classes: background IoU < 100 where objects sound, 0 for the others
    assert 0.0 < m["avsbench/mIoU"] < 100.0 / n_cls + 1e-6


def test_visual_oracle_is_perfect_when_every_visible_object_sounds(tiny, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(tiny["root"], root)
    cfg = tiny["cfg"].copy()
    cfg.test_dataloader.dataset.data_root = root
    real = D.visual_oracle_metrics(cfg, "test")
    floor = D.all_background_metrics(cfg, "test")
    assert D.main_jf(floor) < D.main_jf(real) <= 100.0
    # hand-made: every visible-objects map equals its sounding-objects map -> a perfect prediction
    n_frames = 0
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) == "labels_semantic":
            for f in files:
                shutil.copyfile(os.path.join(dirpath, f), os.path.join(os.path.dirname(dirpath), "labels_visible", f))
                n_frames += 1
    assert n_frames > 0
    perfect = D.visual_oracle_metrics(cfg, "test")
    assert perfect["avsbench/mIoU"] == pytest.approx(100.0) and perfect["dataset/mIoU"] == pytest.approx(100.0)
    assert perfect["J&F"] == pytest.approx(100.0)
    # the set before labels_visible existed: a clear error naming the folder
    clip = next(d for d in sorted(os.listdir(os.path.join(root, "v1m"))) if d.startswith("syntest"))
    shutil.rmtree(os.path.join(root, "v1m", clip, "labels_visible"))
    with pytest.raises(FileNotFoundError, match=f"{clip}.*labels_visible.*delete that folder"):
        D.visual_oracle_metrics(cfg, "test")


def test_visual_oracle_is_absent_for_real_datasets(tiny, tmp_path):
    root = str(tmp_path / "real")
    shutil.copytree(tiny["root"], root)
    os.remove(os.path.join(root, "synthetic_manifest.json"))
    cfg = tiny["cfg"].copy()
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[key].dataset.type = "AVSSemanticDataset"  # the same files read as a real AVSS-layout dataset
        cfg[key].dataset.data_root = root
        cfg[key].dataset.pop("generator")
        cfg[key].dataset.pop("seed")
    assert D.visual_oracle_metrics(cfg, "test") is None


# ---------------------------------------------------------------- audio ablations through the pipeline
def test_zeroed_and_shuffled_audio_reach_the_packed_inputs(tiny):
    from mmseg.registry import DATASETS

    ds = tiny["ds"]
    own = {(ds.get_data_info(i)["clip_id"], ds.get_data_info(i)["frame_index"]): ds[i] for i in range(len(ds))}
    zcfg = D.ablated_audio_cfg(tiny["cfg"], "zeroed")
    assert zcfg.test_evaluator["type"] == "AVSMetric"
    zds = DATASETS.build(zcfg.test_dataloader.dataset.to_dict())
    for i in range(len(zds)):
        item = zds[i]
        assert not item["inputs"]["audio"].any()
        key = (item["data_samples"].clip_id, item["data_samples"].frame_index)
        assert torch.equal(item["inputs"]["img"], own[key]["inputs"]["img"])  # only the audio changes
    scfg = D.ablated_audio_cfg(tiny["cfg"], "shuffled", seed=1)
    sds = DATASETS.build(scfg.test_dataloader.dataset.to_dict())
    step = next(t for t in scfg.test_dataloader.dataset.pipeline if t["type"] == "AblateAudio")
    table = {(e["clip_id"], e["frame_index"]): e["donor"] for e in step["donors"]}
    donors_of = {}
    for i in range(len(sds)):
        info = sds.get_data_info(i)
        item = sds[i]
        clip, frame = info["clip_id"], info["frame_index"]
        donor = table[(clip, frame)]
        assert donor["clip_id"] != clip
        donors_of.setdefault(clip, set()).add(donor["clip_id"])
        assert torch.equal(item["inputs"]["audio"], own[(donor["clip_id"], donor["frame_index"])]["inputs"]["audio"])
        assert not torch.equal(item["inputs"]["audio"], own[(clip, frame)]["inputs"]["audio"])
    assert all(len(v) == 1 for v in donors_of.values())  # one donor clip per clip (a derangement of the clips)
    assert sorted(c for v in donors_of.values() for c in v) == sorted(donors_of)  # every clip donates once


def test_ablate_audio_refuses_frames_without_donor_and_bad_modes():
    from mmseg_plugin.datasets.transforms.audio_ablation import AblateAudio

    with pytest.raises(ValueError, match="mode must be"):
        AblateAudio("shuffle")
    with pytest.raises(ValueError, match="needs `loader`"):
        AblateAudio("donor", donors=[dict(clip_id="a", frame_index=0, donor=dict(audio_path="x.wav"))])
    t = AblateAudio(
        "donor",
        donors=[dict(clip_id="a", frame_index=0, donor=dict(audio_path="x.wav", clip_id="b"))],
        loader=dict(type="LoadAudioWindow"),
    )
    with pytest.raises(KeyError, match="no donor for clip 'c' frame 2"):
        t(dict(clip_id="c", frame_index=2, audio=np.zeros(4, np.float32), img_path="c/frames/2.jpg"))


@pytest.fixture(scope="module")
def random_checkpoint(tiny):
    """A randomly initialised DDESeg for the tiny set (random memory), saved as a checkpoint; its config."""
    from mmseg.registry import MODELS

    from ddeseg_layers.memory import SemanticMemory

    tmp = tiny["tmp"]
    cfg = tiny["cfg"].copy()
    c = len(tiny["ds"].metainfo["classes"])
    cfg.model.net.num_classes = cfg.model.net.memory.num_classes = c
    cfg.model.net.audio.checkpoint = None
    cfg.model.semantic_memory_path = str(tmp / "mem.pth")
    cfg.test_evaluator = dict(cfg.test_evaluator, num_classes=c)
    torch.manual_seed(0)
    d = MODELS.build(dict(cfg.model.to_dict(), semantic_memory_path=None, require_memory=False)).net.audio_dim
    SemanticMemory.build(
        torch.randn(6 * c, d), torch.arange(6 * c) % c, num_clusters=2, num_reps=2, num_classes=c
    ).save(cfg.model.semantic_memory_path)
    model = MODELS.build(cfg.model.to_dict())
    ckpt = str(tmp / "run" / "model.pth")
    os.makedirs(os.path.dirname(ckpt))
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return cfg, ckpt


def test_audio_dependence_evaluates_the_checkpoint_with_ablated_audio(tiny, random_checkpoint):
    cfg, ckpt = random_checkpoint
    res = D.audio_dependence(cfg, ckpt, seed=0)
    plain = D.evaluate_checkpoint(cfg, ckpt)
    for m in (res["zeroed"], res["shuffled"], plain):
        assert m["num_frames"] == len(tiny["ds"]) and 0.0 <= m["J&F"] <= 100.0
    assert res["zeroed"] != plain and res["shuffled"] != plain  # the random model's output depends on its audio


def test_evaluate_checkpoint_equals_runner_test(tmp_path, random_checkpoint):
    """The diagnostics' evaluation loop gives mmengine's Runner.test() metrics to the last digit."""
    from mmengine.runner import Runner

    cfg, ckpt = random_checkpoint
    plain = D.evaluate_checkpoint(cfg, ckpt)
    rcfg = cfg.copy()
    rcfg.update(load_from=ckpt, resume=False, work_dir=str(tmp_path / "runner"))
    assert Runner.from_cfg(rcfg).test() == plain


# ---------------------------------------------------------------- class oracle (sounding classes given)
def _sample(pred, gt, logits=None, has_label=True):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    s = SegDataSample(metainfo=dict(img_path="clip/frames/0.jpg", has_label=has_label))
    s.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    if logits is not None:
        s.seg_logits = PixelData(data=logits)
    return s


def test_keep_sounding_classes_removes_exactly_the_absent_classes():
    # GT holds background and class 1 (255 = ignore makes no class present); 2 and 3 are predicted but silent
    s = _sample([[1, 2, 2], [3, 0, 1]], [[1, 0, 255], [0, 0, 1]], logits=torch.randn(4, 2, 3))
    out = D.keep_sounding_classes(s)
    assert out.pred_sem_seg.data.tolist() == [[[1, 0, 0], [0, 0, 1]]]
    assert out.seg_logits.data.argmax(0).tolist() == [[1, 0, 0], [0, 0, 1]]  # scores follow the kept map
    with pytest.raises(ValueError, match="clip/frames/0.jpg: prediction"):
        D.keep_sounding_classes(_sample([[1, 2]], [[1], [0]]))
    unlabelled = _sample([[1, 2]], [[255, 255]], has_label=False)
    assert D.keep_sounding_classes(unlabelled).pred_sem_seg.data.tolist() == [[[1, 2]]]


def test_keep_sounding_classes_binary_scores():
    logits = torch.tensor([[[2.0, -1.0]]])
    from mmseg_plugin.evaluation.avs_metric_functions import foreground_probability

    for kind in ("probabilities", "logits"):  # a silent frame becomes certain background in either score kind
        silent = D.keep_sounding_classes(
            _sample([[1, 0]], [[0, 0]], logits=logits.clone()), binary=True, binary_score=kind
        )
        assert silent.pred_sem_seg.data.tolist() == [[[0, 0]]]
        assert float(foreground_probability(silent.seg_logits.data, kind).max()) < 1e-6
    sounding = D.keep_sounding_classes(_sample([[1, 0]], [[0, 1]], logits=logits.clone()), binary=True)
    assert sounding.pred_sem_seg.data.tolist() == [[[1, 0]]] and torch.equal(sounding.seg_logits.data, logits)


def test_class_oracle_only_removes_false_positive_classes(tiny, random_checkpoint):
    cfg, ckpt = random_checkpoint
    plain = D.evaluate_checkpoint(cfg, ckpt)
    seen = []

    def record(sample):
        seen.append(sample)
        return sample

    D.evaluate_checkpoint(cfg, ckpt, transform=record)
    assert len(seen) == len(tiny["ds"])
    silent = sum(int((~torch.isin(s.pred_sem_seg.data, torch.unique(s.gt_sem_seg.data))).sum()) for s in seen)
    assert silent > 0  # the random model predicts classes that do not sound in the frame
    oracle = D.class_oracle_metrics(cfg, ckpt)
    assert oracle["num_frames"] == plain["num_frames"] and oracle != plain
    # a class's frames where it sounds keep their IoU; frames where it is only predicted stop counting as zeros
    assert oracle["avsbench/mIoU_no_bg"] >= plain["avsbench/mIoU_no_bg"] - 1e-9


# ---------------------------------------------------------------- classes heard (the stage-1 tagger's decisions)
class _Frames:
    """A stand-in dataset: frame paths only."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def get_data_info(self, i):
        return dict(img_path=self.paths[i])


def test_heard_classes_maps_scores_to_class_ids(monkeypatch):
    import mmseg_plugin.audio_stage as stage

    scores = torch.tensor([[0.9, 0.2, 0.51], [0.1, 0.5, 0.0], [0.6, 0.7, 0.8]])  # [frames, C_fg]: classes 1..3
    monkeypatch.setattr(stage, "audio_scores", lambda model, ds: (scores, None, None))
    heard = D.heard_classes(object(), _Frames(["a.jpg", "b.jpg", "c.jpg"]))
    assert {k: v.tolist() for k, v in heard.items()} == {"a.jpg": [0, 1, 3], "b.jpg": [0], "c.jpg": [0, 1, 2, 3]}
    strict = D.heard_classes(object(), _Frames(["a.jpg", "b.jpg", "c.jpg"]), threshold=0.75)
    assert strict["c.jpg"].tolist() == [0, 3] and strict["a.jpg"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="threshold"):
        D.heard_classes(object(), _Frames(["a.jpg"]), threshold=1.0)

    class Binary:
        class_names = ["dog", "car"]

    with pytest.raises(ValueError, match="categories"):
        D.heard_classes(Binary(), _Frames(["a.jpg"]))


@pytest.fixture(scope="module")
def tagger(tiny):
    """The tiny config's stage-1 classifier (random weights), saved as a runner checkpoint; returns a builder that
    sets its head bias (every class heard / none heard) and saves it."""
    from mmseg.registry import MODELS

    def make(bias: float, name: str):
        cfg = tiny["cfg"].copy()
        cfg.audio_classifier.model.num_classes = len(tiny["ds"].metainfo["classes"])
        model = MODELS.build(
            dict(cfg.audio_classifier.model.to_dict(), data_preprocessor=cfg.model.data_preprocessor.to_dict())
        )
        head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            head.weight.zero_()
            head.bias.fill_(bias)
        path = str(tiny["tmp"] / f"{name}.pth")
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
        return cfg, path

    return make


def test_heard_class_metrics_all_heard_is_the_model_none_heard_is_the_floor(tiny, random_checkpoint, tagger):
    cfg, ckpt = random_checkpoint
    plain = D.evaluate_checkpoint(cfg, ckpt)
    hcfg, all_heard = tagger(20.0, "all_heard")
    hcfg.model = cfg.model
    loaded = D.load_audio_classifier(hcfg, all_heard)
    assert not loaded.training
    everything = D.heard_class_metrics(hcfg, ckpt, all_heard)
    for key in ("avsbench/J", "avsbench/mIoU_no_bg", "dataset/J", "num_frames"):  # nothing removed
        if key in plain:
            assert everything[key] == pytest.approx(plain[key], abs=1e-9), key
    _, none_heard = tagger(-20.0, "none_heard")
    nothing = D.heard_class_metrics(hcfg, ckpt, none_heard)
    floor = D.all_background_metrics(cfg)
    assert nothing["avsbench/J&F"] == pytest.approx(floor["avsbench/J&F"], abs=1e-9)
    assert nothing["avsbench/J&F"] != pytest.approx(plain["avsbench/J&F"], abs=1e-6)
    with pytest.raises(Exception, match="missing|unexpected|size mismatch"):
        wrong = hcfg.copy()
        wrong.audio_classifier.model.num_classes = 9
        D.load_audio_classifier(wrong, all_heard)


def test_pipeline_table_says_why_the_heard_row_is_empty(capsys):
    from mmseg_plugin.apis import pipeline

    base = dict(test=_m(40.0), all_background=_m(7.0), visual_oracle=_m(45.0), shuffle_seed=0)
    cases = [
        (dict(class_heard=_m(38.0), class_heard_classifier="w/audio_classifier/iter_2.pth"), "38.00", "does not hear"),
        (dict(class_heard=None, class_heard_classifier="w/audio_classifier/iter_2.pth"), " - ", "binary task"),
        ({}, " - ", "no stage-1 classifier checkpoint"),
    ]
    for extra, value, note in cases:
        pipeline._print_table(dict(base, **extra))
        row = next(line for line in capsys.readouterr().out.splitlines() if "classes heard" in line)
        assert value in row and note in row, row
    no_diag = dict(test=_m(40.0), all_background=_m(7.0))
    pipeline._print_table(no_diag)
    row = next(line for line in capsys.readouterr().out.splitlines() if "classes heard" in line)
    assert "(--no-diagnostics)" in row
