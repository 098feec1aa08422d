"""Every config parses offline, follows the house rules, and the synthetic one builds a model that runs."""

import glob
import os

import pytest
import torch
from mmengine.config import Config

from ddeseg_layers.model import DDESegConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEAVES = sorted(p for p in glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True) if "_base_" not in p)
DATASET_TYPES = {
    "AVSSemanticDataset",
    "AVSObjectS4Dataset",
    "AVSObjectMS3Dataset",
    "VPODataset",
    "DDESegOfficialAVSSDataset",
    "AVSSyntheticDataset",
}


def test_all_expected_configs_exist():
    names = {os.path.relpath(p, os.path.join(REPO, "configs")) for p in LEAVES}
    for ds in ("avss", "s4", "ms3", "vpo_ss", "vpo_ms", "vpo_msmi"):
        assert f"ddeseg_{ds}.py" in names and f"ddeseg_{ds}_vggish.py" in names
    for ds in ("avss", "s4", "ms3"):
        assert f"ddeseg_{ds}_pvtv2b5_vggish.py" in names
    assert {"ddeseg_official_avss.py", "ddeseg_synthetic.py"} <= names
    for task in ("avss", "ms3"):
        for row in ("baseline", "deri", "deri_disc"):
            assert f"ablations/table3_{row}_{task}.py" in names
        for scheme in ("none", "fc", "ca_fc", "softkmeans_ca_fc", "gs"):
            assert f"ablations/table4_{scheme}_{task}.py" in names


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: os.path.relpath(p, REPO))
def test_config_structure(path):
    text = open(path).read()
    assert "import os" not in text  # plain strings: an import flips mmengine into lazy mode
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=["mmseg_plugin"], allow_failed_imports=False)
    assert cfg.model.type == "AVSSegmentor"
    DDESegConfig.from_dict(cfg.model.net.to_dict())  # every network key is known and well-typed
    assert cfg.model.task in ("semantic", "binary")
    assert (cfg.model.net.num_classes == 1) == (cfg.model.task == "binary")
    for key in ("train_dataloader", "test_dataloader"):
        ds = cfg[key].dataset
        assert ds.type in DATASET_TYPES
        assert ds.data_root == cfg.data_root  # every split follows data_root
    assert cfg.train_dataloader.dataset.split == "train"
    assert cfg.test_dataloader.dataset.split == "test"
    if cfg.get("val_dataloader", None):
        assert cfg.val_dataloader.dataset.split == "val"  # model selection never on test
        assert cfg.val_dataloader.dataset.data_root == cfg.data_root
    else:
        assert cfg.val_cfg is None and cfg.val_evaluator is None
        assert cfg.default_hooks.checkpoint.get("save_best") is None
    hooks = [h["type"] for h in cfg.custom_hooks]
    assert "DDESegRunTrustHook" in hooks and "SemanticMemoryCheckHook" in hooks
    # `mim test --show-dir` turns this hook on: the stock SegVisualizationHook cannot draw resized AVS ground truth
    assert cfg.default_hooks.visualization.type == "AVSVisualizationHook"
    assert cfg.default_hooks.visualization.interval == 1  # once drawing is on, every batch
    mem = cfg.model.net.memory
    mb = cfg.get("memory_builder", {})
    k, m = mb.get("num_clusters", 5), mb.get("reps_per_cluster", 1)
    assert k * m == mem.num_reps
    if cfg.model.net.get("variant", "paper") == "paper" and cfg.model.get("require_memory", True) is not False:
        assert cfg.model.semantic_memory_path


def test_paper_schedule_matches_field_notes():
    cfg = Config.fromfile(os.path.join(REPO, "configs", "ddeseg_avss.py"))
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == "AdamW" and opt.lr == 1e-4 and opt.weight_decay == 0.05
    pw = cfg.optim_wrapper.paramwise_cfg
    assert pw.norm_decay_mult == 0.0 and pw.bias_decay_mult == 0.0 and pw.flat_decay_mult == 0.0
    warm, cos = cfg.param_scheduler
    assert warm.type == "LinearLR" and warm.end == 2 and warm.convert_to_iter_based
    assert cos.type == "CosineAnnealingLR" and cos.eta_min_ratio == 0.4 and cos.convert_to_iter_based
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=100)  # the release: 2 x 50 frames at lr 1e-4
    assert cfg.train_cfg.max_epochs == 150
    assert cfg.model.net.encoder == "mit_b5" and cfg.model.net.audio.type == "htsat"
    assert [loss.loss_weight for loss in cfg.model.losses] == [5.0, 5.0, 2.0]


def test_ablations_change_only_their_module():
    base = Config.fromfile(os.path.join(REPO, "configs", "ddeseg_ms3.py"))
    t3 = Config.fromfile(os.path.join(REPO, "configs", "ablations", "table3_deri_ms3.py"))
    assert t3.model.net.derivation.step3 is False and t3.model.net.elimination.scheme == "none"
    assert t3.model.net.encoder == base.model.net.encoder
    t4 = Config.fromfile(os.path.join(REPO, "configs", "ablations", "table4_softkmeans_ca_fc_avss.py"))
    assert t4.model.net.elimination.scheme == "softkmeans_ca_fc" and t4.model.net.derivation.step3 is True
    assert t4.work_dir != Config.fromfile(os.path.join(REPO, "configs", "ddeseg_avss.py")).work_dir


def test_synthetic_model_builds_and_runs(tmp_path):
    from mmseg.registry import MODELS

    import mmseg_plugin.models  # noqa: F401
    import mmseg_plugin.models.losses  # noqa: F401
    from ddeseg_layers.memory import SemanticMemory

    cfg = Config.fromfile(os.path.join(REPO, "configs", "ddeseg_synthetic.py"))
    model_cfg = cfg.model.to_dict()
    model_cfg["semantic_memory_path"] = str(tmp_path / "mem.pth")
    model_cfg["net"]["audio"]["checkpoint"] = None  # the stage-1 encoder of tools/run_pipeline.py
    model = MODELS.build(model_cfg)
    c, d = model.net.memory.num_classes, model.net.audio_dim
    SemanticMemory.build(
        torch.randn(6 * c, d), torch.arange(6 * c) % c, num_clusters=2, num_reps=2, num_classes=c
    ).save(model_cfg["semantic_memory_path"])
    model = MODELS.build(model_cfg).eval()
    img = torch.randn(2, 3, 64, 64)
    audio = torch.randn(2, model.net.audio.sample_rate)
    out = model(dict(img=img, audio=audio), None, mode="tensor")
    assert out.shape == (2, cfg.model.net.num_classes, 64, 64)
