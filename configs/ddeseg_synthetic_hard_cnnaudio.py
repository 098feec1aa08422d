# Diagnostic, not the paper: the harder synthetic preset with the log-mel CNN baseline (build_audio_backbone type
# "logmel_cnn") as the audio encoder of stage 1 and of DDESeg, everything else as configs/ddeseg_synthetic_hard.py.
# The tiny HTS-AT does not yet learn the harder set's temporal sound classes (docs/training.md, "Stage 1"); this
# config checks whether stages 2-3 (memory, DDM, DEM, fusion) learn from sound when the audio features do carry the
# class (docs/training.md, "Learning from sound on the harder set").
_base_ = ["./ddeseg_synthetic_hard.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        audio=dict(
            _delete_=True,
            type="logmel_cnn",
            frozen=True,
            checkpoint=work_dir + "/audio_encoder.pth",
        )
    ),
)
audio_classifier = dict(
    work_dir=work_dir + "/audio_encoder",
    model=dict(audio=dict(_delete_=True, type="logmel_cnn", frozen=False)),
    max_iters=1000,
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
