# Diagnostic, the paper's encoder family at the small scale: configs/ddeseg_synthetic_hard.py with the tiny HTS-AT
# (192-d, trained from scratch in stage 1 with the README job's settings: 150 iterations, lr 2e-3) instead of the
# log-mel CNN. On this set it does not learn the sound classes (stage-1 val mAP at the class prevalence;
# docs/training.md, "Stage 1"), so DDESeg cannot listen: kept to measure that, not to train with. The three audio
# keys restate _base_/audio/htsat_tiny.py (mmengine forbids a second audio base beside the parent's; same 16 kHz).
_base_ = ["./ddeseg_synthetic_hard.py"]
audio_backbone = dict(type="htsat", size="tiny", frozen=True, checkpoint=None)
audio_memory_dim = 192
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        audio=dict(audio_backbone, _delete_=True, checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),
    ),
)
audio_classifier = dict(
    work_dir=work_dir + "/audio_encoder",
    model=dict(audio=dict(audio_backbone, _delete_=True, frozen=False)),
    max_iters=150,
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
audio_pretrain = None  # the tiny HTS-AT from scratch, as measured (no stage "audio_pretrain")
