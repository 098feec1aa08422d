# The harder preset's recipe (_base_/recipes/synthetic_hard.py) on the README job's set (AVSSyntheticDataset preset
# "basic", 64 x 64, 6 classes): only the dataset base differs from ddeseg_synthetic_hard.py. The README job itself
# (configs/ddeseg_synthetic.py) keeps its fast recipe.
_base_ = ["./_base_/recipes/synthetic_hard.py", "./_base_/datasets/synthetic.py"]


def _at_audio_rate(pipeline):  # the dataset base's pipeline with LoadAudioWindow at the audio base's rate
    return [dict(s, sample_rate=_base_.audio_sample_rate) if s["type"] == "LoadAudioWindow" else s for s in pipeline]


train_pipeline = _at_audio_rate(_base_.train_pipeline)
test_pipeline = _at_audio_rate(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        num_classes=7,
        memory=dict(num_classes=7),
        audio=dict(_base_.audio_backbone, checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),  # stage "visual"'s output (run it first)
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder", model=dict(num_classes=7))
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
