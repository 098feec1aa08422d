"""Which recipe stages a config runs (mmseg_plugin/recipe.py, tools/run_pipeline.py), and the official preset's strict
load of a complete released state dict (HTSAT with the release's 71-class head)."""

import os

import pytest
import torch
from mmengine.config import Config

from mmseg_plugin.recipe import stage1_enabled, supplied_memory

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(name):
    return Config.fromfile(os.path.join(REPO, "configs", name))


@pytest.mark.parametrize(
    "name, on",
    [
        ("ddeseg_avss.py", False),  # AudioSet HTS-AT as is (§4)
        ("ddeseg_s4_vggish.py", False),
        ("ddeseg_official_avss.py", False),  # no audio_classifier at all
        ("ddeseg_synthetic.py", True),  # no pretrained encoder: stage 1 trains it
        ("ddeseg_synthetic_hard.py", True),
        ("ddeseg_synthetic_hard_htsat.py", True),
    ],
)
def test_stage1_is_opt_in_for_paper_configs_and_on_for_synthetic(name, on):
    assert stage1_enabled(_cfg(name))[0] is on


def test_audio_finetune_flag_forces_stage1():
    cfg = _cfg("ddeseg_avss.py")
    cfg.audio_finetune = True
    assert stage1_enabled(cfg) == (True, "audio_finetune=True")
    cfg = _cfg("ddeseg_official_avss.py")
    cfg.audio_finetune = True
    with pytest.raises(ValueError, match="no `audio_classifier`"):
        stage1_enabled(cfg)


def test_run_pipeline_leaves_the_official_bank_and_encoder_alone(tmp_path, monkeypatch, tool):
    """The official config: stages 1-2 are skipped and the DDESeg run keeps the config's bank and encoder."""
    from mmseg_plugin.apis import pipeline

    tool_main = tool("run_pipeline").main
    cfg = _cfg("ddeseg_official_avss.py")
    assert supplied_memory(cfg) == "checkpoints/1s_k5_feabank.npy"
    assert supplied_memory(_cfg("ddeseg_avss.py")) is None
    monkeypatch.setattr(pipeline, "stage_data", lambda cfg: dict(train=1, val=1, test=1, classes=["background"]))
    monkeypatch.setattr(pipeline, "apply_avss_classes", lambda cfg: None)
    called = []
    monkeypatch.setattr(pipeline, "stage_audio", lambda *a, **k: called.append("audio"))
    seg = {}

    def fake_train(scfg):
        seg["cfg"] = scfg
        os.makedirs(scfg.work_dir, exist_ok=True)
        return dict(checkpoint="x.pth")

    monkeypatch.setattr(pipeline, "stage_train", fake_train)
    summary = tool_main(
        [os.path.join(REPO, "configs", "ddeseg_official_avss.py"), "--work-dir", str(tmp_path), "--stop-after", "train"]
    )
    assert called == [] and "memory" not in summary and not (tmp_path / "semantic_memory.pth").exists()
    scfg = seg["cfg"]
    assert scfg.model.semantic_memory_path is None
    assert scfg.model.net.pretrained.memory == "checkpoints/1s_k5_feabank.npy"
    assert scfg.model.net.audio.checkpoint == "checkpoints/HTSAT_AudioSet_Saved_1_clean.ckpt"


def test_official_preset_loads_a_complete_released_state_dict_strictly():
    """The release builds HTSAT with 71 classes: `audio_model.tscam_conv/head` of 71 classes load strictly."""
    from ddeseg_layers.audio import build_audio_backbone
    from ddeseg_layers.converters import load_official_ddeseg, ours_to_official_ddeseg
    from ddeseg_layers.model import build_ddeseg, preset_config

    audio = build_audio_backbone(preset_config("official")["audio"])
    assert audio.net.tscam_conv.weight.shape[0] == 71 and tuple(audio.net.head.weight.shape) == (71, 71)
    # a small official network with that HTSAT: the full released key set (audio head included) loads strictly
    cfg = preset_config("official")
    cfg["encoder"] = dict(
        embed_dims=(16, 16, 32, 32), num_heads=(1, 1, 2, 2), depths=(1, 1, 1, 1), sr_ratios=(4, 2, 1, 1)
    )
    cfg["elimination"] = dict(num_heads=2)
    torch.manual_seed(0)
    src = build_ddeseg(cfg)
    released = ours_to_official_ddeseg(src.state_dict(), audio_prefix="audio.net.")
    assert released["audio_model.tscam_conv.weight"].shape[0] == 71
    torch.manual_seed(1)
    dst = build_ddeseg(cfg)
    report = load_official_ddeseg(dst, released)
    assert not [k for k in report.missing_allowed if k.startswith("audio.")]
    torch.testing.assert_close(dst.audio.net.head.weight, src.audio.net.head.weight, rtol=0, atol=0)
