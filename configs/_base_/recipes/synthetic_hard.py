# The harder synthetic preset's recipe without its data (docs/training.md, "Learning from sound on the harder set"):
# the tiny model of the README job (_base_/models/ddeseg_synthetic_tiny.py), with
#   - stage "visual": its MiT encoder pre-trained on an independent image-only sprite set (every object a fresh
#     instance; the analogue of the paper's ImageNet weights; mmseg_plugin/visual_stage.py), 4,000 images x 10,000
#     iterations of batch 8,
#   - stage "audio_pretrain": its log-mel CNN audio encoder (_base_/audio/logmel_cnn.py) pre-trained on an independent
#     audio-only tagging set of the harder set's words (6,000 1-s clips said by 1,000 voices of its own; the analogue
#     of the paper's AudioSet weights; mmseg_plugin/audio_pretrain.py), 1,500 iterations of batch 32,
#   - stage 1: that encoder fine-tuned 1,000 iterations on the frame labels,
#   - DDESeg: 1,500 iterations of batch 8 (the synthetic schedule stretched: 150 warm-up iterations, cosine to 1e-4),
#     validation at the end.
# A leaf adds one dataset base (ddeseg_synthetic_hard.py: the harder set; ddeseg_synthetic_hard_s1.py: its variation;
# ddeseg_synthetic_hard_recipe_basic.py: the README job's set) and the work_dir-derived paths; nothing else differs.
_base_ = [
    "../models/ddeseg_synthetic_tiny.py",
    "../audio/logmel_cnn.py",
    "../schedules/synthetic_iters.py",
    "../default_runtime.py",
]
visual_pretrain = dict(num_images=4000, iters=10000, batch_size=8, lr=2e-3)
audio_pretrain = dict(num_clips=6000, num_voices=1000, iters=1500, batch_size=32, lr=1e-3)
audio_classifier = dict(model=dict(audio=dict(_base_.audio_backbone, frozen=False)), max_iters=1000)
max_iters = 1500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=150),
    dict(type="CosineAnnealingLR", T_max=max_iters - 150, eta_min=1e-4, by_epoch=False, begin=150, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=750), visualization=dict(type="AVSVisualizationHook", draw=False))
env_cfg = dict(dist_cfg=dict(backend="gloo"), mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0))
