# The harder synthetic preset (configs/ddeseg_synthetic_hard.py) with stage 1 off: the audio encoder of stage
# "audio_pretrain" is used as it is (frozen) to build the memory and to train DDESeg, as the release keeps its AudioSet
# HTS-AT frozen (docs/training.md, "Stage 1 skipped: the audio encoder frozen"). Everything else is the preset's.
_base_ = ["../ddeseg_synthetic_hard.py"]
audio_finetune = False
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        audio=dict(checkpoint=work_dir + "/audio_pretrained.pth"),  # stage "audio_pretrain"'s output, frozen
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder")
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
