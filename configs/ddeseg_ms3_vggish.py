# DDESeg (Trans. = MiT-B5 + VGGish; the released network, variant='official'), Table 1 (AVS-Objects-MS3): paper J&F / J / F = 75.6 / 70.1 / 81.0.
_base_ = [
    "./_base_/models/ddeseg_mitb5_htsat_binary.py",
    "./_base_/datasets/ms3.py",
    "./_base_/audio/vggish.py",
    "./_base_/schedules/adamw_cosine_150e.py",
    "./_base_/default_runtime.py",
]
data_root = "data/AVSBench-object/Multi-sources"


def _at_audio_rate(pipeline):  # the dataset base's pipeline with LoadAudioWindow at the audio base's rate
    return [dict(s, sample_rate=_base_.audio_sample_rate) if s["type"] == "LoadAudioWindow" else s for s in pipeline]


train_pipeline = _at_audio_rate(_base_.train_pipeline)
test_pipeline = _at_audio_rate(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        audio=_base_.audio_backbone,
        memory=dict(dim=_base_.audio_memory_dim),
        pretrained=dict(encoder="checkpoints/mit_b5.pth"),
    ),
)
# Optional stage 1 (tools/run_pipeline.py, `audio_finetune = True`; not the paper's recipe): fine-tune the audio
# encoder on frame labels derived from the masks.
# MS3 has no per-clip categories: the optional stage 1 uses the S4 training set (23 categories); the memory comes
# from the AVSS training set (71 classes, _base_/models/ddeseg_mitb5_htsat_binary.py)
s4_train = dict(type="AVSObjectS4Dataset", data_root="data/AVSBench-object/Single-source", split="train")
audio_classifier = dict(model=dict(audio=dict(_base_.audio_backbone, frozen=False)), dataset=s4_train)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
