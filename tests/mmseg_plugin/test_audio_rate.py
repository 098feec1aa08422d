"""The audio sample rate comes from the audio backbone; a config's LoadAudioWindow rate is checked against it
(mmseg_plugin/audio_rate.py, called by SemanticMemoryCheckHook and mmseg_plugin.apis.inference.init_model)."""

import os
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from ddeseg_layers.audio import build_audio_backbone
from mmseg_plugin.audio_rate import check_model_sample_rate, check_sample_rate, pipeline_sample_rates

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(name):
    return Config.fromfile(os.path.join(REPO, "configs", name))


@pytest.mark.parametrize("name", ["ddeseg_synthetic.py", "ddeseg_official_avss.py", "ddeseg_s4_vggish.py"])
def test_shipped_configs_load_audio_at_the_backbone_rate(name):
    cfg = _config(name)
    backbone = build_audio_backbone(dict(cfg.model.net.audio, checkpoint=None))  # the rate, not the weights
    rates = {rate for _, rate in pipeline_sample_rates(cfg)}
    assert rates == {backbone.sample_rate}
    check_model_sample_rate(cfg, SimpleNamespace(net=SimpleNamespace(audio=backbone)))


def test_a_differing_pipeline_rate_names_the_config_and_both_rates():
    cfg = _config("ddeseg_synthetic.py")
    step = next(s for s in cfg.test_dataloader.dataset.pipeline if s["type"] == "LoadAudioWindow")
    step["sample_rate"] = 32000
    with pytest.raises(ValueError, match=r"ddeseg_synthetic\.py: .*test_dataloader.* 32000 Hz .* 16000 Hz"):
        check_sample_rate(cfg, 16000)
    check_sample_rate(cfg, None)  # precomputed features: no rate to compare


def test_check_hook_refuses_a_run_whose_pipeline_rate_differs(tmp_path):
    from mmseg_plugin.hooks.memory_check_hook import SemanticMemoryCheckHook

    cfg = _config("ddeseg_synthetic.py")
    backbone = SimpleNamespace(sample_rate=22050)
    model = SimpleNamespace(net=SimpleNamespace(audio=backbone), check_memory=lambda: None)
    runner = SimpleNamespace(cfg=cfg, model=model)
    for stage in ("before_val", "before_test", "before_train"):
        with pytest.raises(ValueError, match=r"ddeseg_synthetic\.py: .* 16000 Hz .* expects 22050 Hz"):
            getattr(SemanticMemoryCheckHook(), stage)(runner)
