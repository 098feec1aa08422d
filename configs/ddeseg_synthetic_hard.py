# The harder built-in synthetic set (an independent second test of the recipe; see docs/datasets.md "The harder
# synthetic set"): 128 x 128 frames, 12 classes, small objects, sound classes in temporal structure only, voices and
# instances disjoint between splits. Its recipe is _base_/recipes/synthetic_hard.py (visual pre-training, log-mel CNN
# audio encoder, 1,500 DDESeg iterations); ddeseg_synthetic_hard_s1.py and ddeseg_synthetic_hard_recipe_basic.py run
# the same recipe with only the dataset base swapped.
_base_ = ["./_base_/recipes/synthetic_hard.py", "./_base_/datasets/synthetic_hard.py"]


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
        num_classes=13,
        memory=dict(num_classes=13),
        audio=dict(_base_.audio_backbone, checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),  # stage "visual"'s output (run it first)
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder", model=dict(num_classes=13))
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
