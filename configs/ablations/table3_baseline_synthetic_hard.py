# Table 3's baseline row (no DDM: the audio feature repeated K times; no DEM: S = 1) with the harder synthetic
# preset's recipe, data and budget (configs/ddeseg_synthetic_hard.py): the "no-DDM / no-DEM ablation, same budget" that
# the recipe must beat. Stages visual, 1 and 2 are deterministic for a seed: tools/run_pipeline.py recomputes them
# identically here, or copy the preset's visual_encoder.pth, audio_encoder.pth (+ .json) and semantic_memory.pth into
# this work_dir to train only DDESeg.
_base_ = ["../ddeseg_synthetic_hard.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        derivation=dict(enabled=False),
        elimination=dict(enabled=False),
        audio=dict(checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder")
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
