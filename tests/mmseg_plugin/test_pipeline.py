"""tools/run_pipeline.py end to end on a tiny synthetic set, stage skipping, and resume of tools/train.py."""

import json
import os

import pytest
import torch


def test_pipeline_smoke_stages_0_to_2(tmp_path, tool, tiny_synthetic_config):
    """Fast path of the main job: data generation, stage-1 encoder training, memory from that encoder."""
    pipeline = tool("run_pipeline")
    work = str(tmp_path / "work")
    summary = pipeline.main(
        [tiny_synthetic_config(tmp_path), "--work-dir", work, "--audio-iters", "1", "--stop-after", "memory"]
    )
    assert summary["num_classes"] == 4 and summary["audio"]["audio_iters"] == 1
    assert 0.0 <= summary["audio"]["audio_val_mAP"] <= 100.0
    from ddeseg_layers.memory import SemanticMemory

    mem = SemanticMemory.load(os.path.join(work, "semantic_memory.pth"))
    assert mem.num_classes == 4 and mem.num_reps == 4 and mem.dim == 192
    assert not bool(mem.class_mask[0])  # background never has a single-source frame
    assert "train" not in summary and os.path.isfile(os.path.join(work, "summary.json"))


@pytest.mark.slow
def test_pipeline_runs_every_stage_then_skips(tmp_path, tool, tiny_synthetic_config):
    pipeline = tool("run_pipeline")
    cfg = tiny_synthetic_config(tmp_path)
    work = str(tmp_path / "work")
    summary = pipeline.main([cfg, "--work-dir", work, "--audio-iters", "2", "--seg-iters", "2"])
    for name in ("audio_encoder.pth", "semantic_memory.pth", "summary.json", "ddeseg/train_done.json"):
        assert os.path.isfile(os.path.join(work, name)), name
    assert summary["num_classes"] == 4  # 3 synthetic classes + background, read from label2idx.json
    assert summary["memory"]["n_single"] > 0 and summary["memory"]["num_classes"] == 4
    for key in ("avsbench/J&F", "dataset/J&F", "mJ", "mF"):
        assert key in summary["test"] and key in summary["all_background"]
    assert summary["train"]["seg_iters"] == 2
    # the diagnostics re-read stage 1's runner checkpoint (marked as this run's own) for the "classes heard" row
    assert os.path.isfile(os.path.join(work, "audio_classifier", ".ddeseg_work_dir"))
    assert summary["class_heard_classifier"].startswith(os.path.join(work, "audio_classifier"))
    assert summary["class_heard"]["avsbench/J&F"] >= 0
    # every test frame's predicted mask is written, listed once in the manifest
    with open(os.path.join(summary["masks"], "masks.csv")) as f:
        rows = f.read().splitlines()[1:]
    assert len(rows) == summary["data"]["test"] == summary["test"]["masks/num_written"]
    assert all(os.path.isfile(os.path.join(summary["masks"], r.split(",")[1])) for r in rows)
    # encoder weights are what the DDESeg audio backbone loads
    state = torch.load(os.path.join(work, "audio_encoder.pth"), weights_only=True)
    assert all(torch.is_tensor(v) for v in state.values())
    with open(os.path.join(work, "summary.json")) as f:
        assert json.load(f)["test"] == summary["test"]
    again = pipeline.main([cfg, "--work-dir", work, "--audio-iters", "2", "--seg-iters", "2"])
    assert "audio" not in again and "memory" not in again  # skipped: outputs exist
    assert again["train"]["checkpoint"] == summary["train"]["checkpoint"]


def test_memory_builder_cache_resumes(tmp_path, tool, tiny_synthetic_config):
    from mmengine.config import Config

    from mmseg_plugin.apis.config_helpers import apply_avss_classes
    from mmseg_plugin.apis.scope import import_plugin

    import_plugin()
    from mmseg_plugin.apis import pipeline
    from mmseg_plugin.apis.memory_builder import build_and_save_memory

    cfg = Config.fromfile(tiny_synthetic_config(tmp_path))
    pipeline.stage_data(cfg)  # generates the set
    assert apply_avss_classes(cfg) == 4
    cfg.memory_builder.cache_dir = str(tmp_path / "cache")
    first = build_and_save_memory(cfg, out=str(tmp_path / "m1.pth"), progress=False)
    assert first["num_classes"] == 4 and first["frames_per_class"][0] == 0  # background never single-source
    assert first["cached_chunks"] == 0 and first["n_chunks"] >= 2
    os.remove(os.path.join(str(tmp_path / "cache"), "chunk_00001.pt"))  # an interrupted build
    second = build_and_save_memory(cfg, out=str(tmp_path / "m2.pth"), progress=False)
    assert second["cached_chunks"] == first["n_chunks"] - 1
    a, b = torch.load(tmp_path / "m1.pth", weights_only=True), torch.load(tmp_path / "m2.pth", weights_only=True)
    assert torch.allclose(a["centroids"], b["centroids"])


@pytest.mark.slow
def test_resume_continues_from_last_checkpoint(tmp_path, tool, tiny_synthetic_config):
    train = tool("train")
    cfg = tiny_synthetic_config(tmp_path)
    work = str(tmp_path / "run")
    mem = str(tmp_path / "mem.pth")
    opts = ["--work-dir", work, "--cfg-options", f"model.semantic_memory_path={mem}"]
    tool("build_semantic_memory").main([cfg, "--out", mem, "--no-progress"])
    train.main([cfg, *opts, "--max-iters", "4"])  # "killed" after its iteration-4 checkpoint
    with open(os.path.join(work, "last_checkpoint")) as f:
        assert f.read().strip().endswith("iter_4.pth")
    train.main([cfg, *opts, "--max-iters", "6", "--resume"])
    from mmseg_plugin.hooks import load_local_checkpoint

    ckpt = load_local_checkpoint(os.path.join(work, "iter_6.pth"))
    assert ckpt["meta"]["iter"] == 6
    iters = []
    for d in sorted(os.listdir(work)):
        scalars = os.path.join(work, d, "vis_data", "scalars.json")
        if os.path.isfile(scalars):
            with open(scalars) as f:
                iters += [json.loads(line)["iter"] for line in f if '"loss"' in line]
    # every iteration trained exactly once over both runs: the resumed run went on with 5 and 6
    assert sorted(iters) == [1, 2, 3, 4, 5, 6]


FROZEN_LEAF = """
_base_ = [{leaf!r}]
work_dir = {work!r}
data_root = {data!r}
gen = dict(image_size=64, num_classes=4, object_scale=2.0, num_train=8, num_val=3, num_test=3, voices_train=4,
           voices_val=4, voices_test=4, instances_train=2, instances_val=1, instances_test=1)
train_dataloader = dict(dataset=dict(data_root=data_root, generator=gen))
val_dataloader = dict(dataset=dict(data_root=data_root, generator=gen))
test_dataloader = dict(dataset=dict(data_root=data_root, generator=gen))
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path,
             net=dict(audio=dict(checkpoint=work_dir + "/audio_pretrained.pth"), pretrained=dict(encoder=None)))
audio_classifier = dict(work_dir=work_dir + "/audio_encoder", max_iters=2)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
visual_pretrain = None
audio_pretrain = dict(num_clips=40, num_voices=8, iters=2, warmup_iters=1, batch_size=4, generator=dict(num_classes=4))
"""


@pytest.mark.mmseg
def test_pipeline_stage1_off_uses_the_pretrained_audio_encoder_frozen(tmp_path, tool):
    """``audio_finetune = False`` after stage "audio_pretrain" (the shipped leaf
    configs/ablations/frozen_audio_synthetic_hard.py on a tiny harder set): no stage 1, and the memory (then DDESeg)
    uses the pre-trained encoder as it is, the release's practice with its AudioSet HTS-AT (docs/training.md)."""
    from ddeseg_layers.memory import SemanticMemory

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    work, data = str(tmp_path / "work"), str(tmp_path / "data")
    leaf = tmp_path / "frozen_audio.py"
    shipped = os.path.join(repo, "configs", "ablations", "frozen_audio_synthetic_hard.py")
    leaf.write_text(FROZEN_LEAF.format(leaf=shipped, work=work, data=data))
    summary = tool("run_pipeline").main([str(leaf), "--seed", "0", "--stop-after", "memory"])
    pretrained = os.path.join(work, "audio_pretrained.pth")
    assert summary["audio_encoder_frozen"] == pretrained
    assert "audio" not in summary and not os.path.exists(os.path.join(work, "audio_encoder.pth"))
    mem = SemanticMemory.load(os.path.join(work, "semantic_memory.pth"))
    assert mem.provenance["checkpoint"] == pretrained
