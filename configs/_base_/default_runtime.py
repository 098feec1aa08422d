# Runtime shared by every DDESeg config (mmengine / MMSegmentation 1.x).
# custom_imports makes `mim train mmseg CONFIG` / `mim test mmseg CONFIG --checkpoint ...` import the plugin, which
# registers the AVS datasets, transforms, models, losses, metric and hooks (and installs the resume fix).
custom_imports = dict(imports=["mmseg_plugin"], allow_failed_imports=False)
default_scope = "mmseg"
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    dist_cfg=dict(backend="nccl"),
)
vis_backends = [dict(type="LocalVisBackend")]
# No fixed `name`: mmengine's visualizers are per-name singletons, so a fixed name made a second Runner in the same
# process (tools/run_pipeline.py runs the audio-encoder and DDESeg runs back to back) write its scalars into the first
# run's vis_data. Without it each Runner names its visualizer after its own (timestamped) experiment.
visualizer = dict(type="SegLocalVisualizer", vis_backends=vis_backends)
log_level = "INFO"
load_from = None
resume = False
tta_model = None
randomness = dict(seed=0)
# DDP: the official code trains with find_unused_parameters=True (ablations leave DDM / DEM parameters unused)
find_unused_parameters = True
# DDESegRunTrustHook: lets `resume` read the run's own checkpoints (torch>=2.6 weights_only, see docs/training.md).
# SemanticMemoryCheckHook: refuses to start with a missing or mismatched semantic memory.
# NonFiniteGuardHook: stops at the first NaN/inf loss or gradient, naming the iteration and clips, before any update.
# AVSIterationLogHook: <work_dir>/train_iterations.jsonl, exactly the iterations the weights went through (resumes).
custom_hooks = [
    dict(type="DDESegRunTrustHook"),
    dict(type="SemanticMemoryCheckHook"),
    dict(type="NonFiniteGuardHook"),
    dict(type="AVSIterationLogHook"),
]
