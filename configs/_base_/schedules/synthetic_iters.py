# Iteration-based schedule for the synthetic CPU run (300 iterations of batch 8, ~1 min on 2 idle cores): the paper's
# optimizer recipe (AdamW, no decay on norms/biases, linear warm-up then cosine to eta_min) with a larger lr for the tiny from-scratch model.
max_iters = 300
val_interval = 150
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type="CosineAnnealingLR", T_max=max_iters - 30, eta_min=1e-4, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type="AVSIterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="AVSCheckpointHook", by_epoch=False, interval=val_interval, max_keep_ckpts=2),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="AVSVisualizationHook", interval=1),  # when drawing (--show-dir): every batch
)
log_processor = dict(by_epoch=False)
