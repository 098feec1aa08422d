# Synthetic AV segmentation on CPU (the README's main job; tools/run_pipeline.py runs the whole recipe on it).
# AVSSyntheticDataset generates a deterministic AVSS-layout dataset into `data_root` on first use (objects of several
# classes on textured backgrounds, class-specific sound families, multi-source mixtures, off-screen sounds, silent
# on-screen objects) and reads it with the real AVSS loader. Tiny MiT + tiny HTSAT, 64 x 64 frames, 1-s audio at 16 kHz.
_base_ = [
    "./_base_/models/ddeseg_synthetic_tiny.py",
    "./_base_/datasets/synthetic.py",
    "./_base_/audio/htsat_tiny.py",
    "./_base_/schedules/synthetic_iters.py",
    "./_base_/default_runtime.py",
]
data_root = "data/synthetic"


def _at_audio_rate(pipeline):  # the dataset base's pipeline with LoadAudioWindow at the audio base's rate
    return [dict(s, sample_rate=_base_.audio_sample_rate) if s["type"] == "LoadAudioWindow" else s for s in pipeline]


train_pipeline = _at_audio_rate(_base_.train_pipeline)
test_pipeline = _at_audio_rate(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
# DDESeg uses the stage-1 encoder, the one the memory was built from (run tools/run_pipeline.py, or its stages 0-2 with
# `--stop-after memory`, before `mim train mmseg configs/ddeseg_synthetic.py`)
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(audio=dict(_base_.audio_backbone, checkpoint=work_dir + "/audio_encoder.pth")),
)
audio_classifier = dict(
    work_dir=work_dir + "/audio_encoder", model=dict(audio=dict(_base_.audio_backbone, frozen=False))
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
env_cfg = dict(dist_cfg=dict(backend="gloo"), mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0))
default_hooks = dict(visualization=dict(type="AVSVisualizationHook", draw=False))
