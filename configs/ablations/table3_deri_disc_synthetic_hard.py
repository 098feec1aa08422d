# Table 3 ablation with the harder synthetic preset's recipe, data and budget (configs/ddeseg_synthetic_hard.py):
# Deri.+Disc.: full DDM (eqs. 5-12), no DEM. On AVSS the paper reports J&F / J / F = 65.55 / 61.07 / 70.03.
# Stages visual, audio_pretrain, 1 and 2 are deterministic for a seed: tools/run_pipeline.py recomputes them
# identically here, or copy the preset's visual_encoder.pth, audio_pretrained.pth, audio_encoder.pth (+ .json) and
# semantic_memory.pth into this work_dir to train only DDESeg (docs/training.md, "A rep-gated initialisation and
# the rest of Table 3").
_base_ = ["../ddeseg_synthetic_hard.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        derivation=dict(enabled=True, step3=True),
        elimination=dict(scheme="none"),
        audio=dict(checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder")
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
