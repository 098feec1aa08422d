"""Stage 1 (mmseg_plugin/audio_stage.py): runner config, val mAP, the CNN baseline and its benchmark."""

import importlib.util
import json
import os

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(path):
    from mmengine.config import Config

    import mmseg_plugin.registry  # noqa: F401  (registers the plugin)

    return Config.fromfile(path)


def test_runner_cfg_schedule_and_baseline_model(tmp_path, tiny_synthetic_config):
    from mmseg_plugin.audio_stage import audio_runner_cfg, baseline_classifier_model

    cfg = _cfg(tiny_synthetic_config(tmp_path))
    rc = audio_runner_cfg(cfg, str(tmp_path / "wd"), 40, overrides=dict(warmup_iters=10, lr=1e-3), seed=3)
    kinds = [(s["type"], s["begin"], s["end"]) for s in rc.param_scheduler]
    assert kinds == [("LinearLR", 0, 10), ("CosineAnnealingLR", 10, 40)]
    assert rc.randomness.seed == 3 and rc.optim_wrapper.optimizer.lr == 1e-3 and rc.train_cfg.max_iters == 40
    with pytest.raises(ValueError, match="warmup_iters"):
        audio_runner_cfg(cfg, str(tmp_path / "wd"), 10, overrides=dict(warmup_iters=10))
    base = baseline_classifier_model(cfg)
    assert base["audio"]["type"] == "logmel_cnn" and base["audio"]["frozen"] is False  # trained, not a frozen probe
    assert base["audio"]["sample_rate"] == 16000 and "augment" not in base


# ~8 s on an idle core (two arms x two seeds x 2 iterations through the Runner + the tiny val set)
def test_benchmark_runs_and_reports_both_arms(tmp_path, tiny_synthetic_config):
    spec = importlib.util.spec_from_file_location(
        "bench_audio", os.path.join(REPO, "benchmarks", "bench_audio_baseline.py")
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cfg = tiny_synthetic_config(tmp_path)
    out = tmp_path / "res.json"
    res = bench.main([cfg, "--iters", "2", "--batch-size", "2", "--seeds", "0", "1", "--work-dir", str(tmp_path / "w"),
                      "--out", str(out)])  # fmt: skip
    assert set(res["summary"]) == {"encoder", "baseline"}
    assert len(res["runs"]) == 4 and {r["seed"] for r in res["runs"]} == {0, 1}
    for arm in res["summary"].values():
        assert 0 <= arm["mAP_mean"] <= 100 and arm["mAP_std"] >= 0 and arm["train_s_mean"] > 0
        assert len(arm["per_class_AP_mean"]) == 3  # the tiny set's 3 foreground classes
    assert json.loads(out.read_text())["iters"] == 2
    with pytest.raises(RuntimeError, match="over the budget"):
        bench.run_benchmark(cfg, 2, 2, seeds=(0,), only="baseline", budget_seconds=1e-6, work_dir=str(tmp_path / "b"))
    # --audio-init: the encoder arm starts from given weights (stage "audio_pretrain"'s output), checked strictly
    from mmengine.config import Config

    from ddeseg_layers.audio import build_audio_backbone
    from ddeseg_layers.checkpoint import CheckpointMismatchError

    audio = dict(Config.fromfile(cfg).audio_classifier.model.audio.to_dict(), frozen=False, checkpoint=None)
    init = tmp_path / "audio_pretrained.pth"
    torch.save(build_audio_backbone(audio).net.state_dict(), init)
    res = bench.run_benchmark(cfg, 2, 2, seeds=(0,), only="encoder", work_dir=str(tmp_path / "i"), audio_init=str(init))
    assert res["audio_init"] == str(init) and len(res["runs"]) == 1
    torch.save({"not_a_key": torch.zeros(1)}, init)
    with pytest.raises(CheckpointMismatchError, match="unexpected keys"):
        bench.run_benchmark(cfg, 2, 2, seeds=(0,), only="encoder", work_dir=str(tmp_path / "j"), audio_init=str(init))
    with pytest.raises(FileNotFoundError, match="no such file"):
        bench.run_benchmark(cfg, 2, 2, seeds=(0,), only="encoder", audio_init=str(tmp_path / "missing.pth"))
