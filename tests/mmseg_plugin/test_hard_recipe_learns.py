"""End to end on the harder synthetic generator (slow): a tiny version of the harder preset, trained by the whole
recipe (``tools/run_pipeline.py``: data -> visual pre-training -> audio pre-training -> log-mel CNN audio encoder ->
memory -> DDESeg -> test), learns from sound on data the recipe was not built around: it clears the all-background
floor, and it scores clearly less with its audio zeroed or shuffled across clips (so what it segments it segments
because of what it hears).

Not asserted: beating the visual-only oracle. At this size (4 classes, 4 training instances per class, 400 DDESeg
iterations at 64 px) the visual half is the limit; docs/training.md ("The recipe with visual pre-training:
measured") gives the figures of the full preset, where the model is still below that oracle per frame.
"""

import os

import pytest

from mmseg_plugin import diagnostics as D

pytestmark = [pytest.mark.mmseg, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARD = os.path.join(REPO, "configs", "ddeseg_synthetic_hard.py")

LEAF = """
_base_ = [{hard!r}]
work_dir = {work!r}
data_root = {data!r}
gen = dict(image_size=64, num_classes=4, object_scale=2.0, num_train=120, num_val=16, num_test=40, voices_train=12,
           voices_val=4, voices_test=6, instances_train=4, instances_val=2, instances_test=2)


def _at64(pipeline):
    return [dict(s, scale=(64, 64)) if s["type"] == "Resize" else s for s in pipeline]


train_dataloader = dict(dataset=dict(data_root=data_root, generator=gen, pipeline=_at64(_base_.train_pipeline)))
val_dataloader = dict(dataset=dict(data_root=data_root, generator=gen, pipeline=_at64(_base_.test_pipeline)))
test_dataloader = dict(dataset=dict(data_root=data_root, generator=gen, pipeline=_at64(_base_.test_pipeline)))
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path,
             net=dict(audio=dict(checkpoint=work_dir + "/audio_encoder.pth"),
                      pretrained=dict(encoder=work_dir + "/visual_encoder.pth")))
audio_classifier = dict(work_dir=work_dir + "/audio_encoder", max_iters=300)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
visual_pretrain = dict(num_images=600, iters=800, image_size=64, generator=dict(num_classes=4, object_scale=2.0))
audio_pretrain = dict(num_clips=800, num_voices=100, iters=300, batch_size=16, generator=dict(num_classes=4))
max_iters = 400
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type="CosineAnnealingLR", T_max=max_iters - 40, eta_min=1e-4, by_epoch=False, begin=40, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
"""


def test_tiny_harder_preset_learns_from_sound(tmp_path, tool):
    from mmengine.config import Config

    work, data = str(tmp_path / "work"), str(tmp_path / "data")
    leaf = tmp_path / "tiny_hard.py"
    leaf.write_text(LEAF.format(hard=HARD, work=work, data=data))
    summary = tool("run_pipeline").main([str(leaf), "--seed", "0", "--no-diagnostics"])
    jf, floor = summary["test"]["J&F"], summary["all_background"]["J&F"]
    assert summary["audio_stage"]["audio_val_mAP"] > 60.0  # chance is about the class frequency (~25-35)
    assert jf > floor + 4.0, (jf, floor)
    cfg = Config.fromfile(os.path.join(work, "ddeseg", "tiny_hard.py"))  # the config DDESeg was trained with
    dep = D.audio_dependence(cfg, summary["train"]["checkpoint"], seed=0)
    zeroed, shuffled = dep["zeroed"]["J&F"], dep["shuffled"]["J&F"]
    assert jf > zeroed + 3.0 and jf > shuffled + 2.0, (jf, zeroed, shuffled)
