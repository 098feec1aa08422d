# DDESeg (Trans. = MiT-B5 + VGGish; the released network, variant='official'), Table 1 (AVS-Objects-MS3): paper J&F / J / F = 75.6 / 70.1 / 81.0.
_base_ = [
    "./_base_/models/ddeseg_mitb5_htsat_binary.py",
    "./_base_/datasets/ms3.py",
    "./_base_/schedules/adamw_cosine_150e.py",
    "./_base_/default_runtime.py",
]
data_root = "data/AVSBench-object/Multi-sources"
# VGGish: 16 kHz input (0.96-s log-mel example of each 1-s window)
audio_sample_rate = 16000
train_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow", sample_rate=audio_sample_rate),
    dict(type="Resize", scale=(224, 224), keep_ratio=False),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackAVSInputs"),
]
test_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow", sample_rate=audio_sample_rate),
    dict(type="Resize", scale=(224, 224), keep_ratio=False),
    dict(type="PackAVSInputs"),
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        encoder="mit_b5",
        audio=dict(type="vggish", frozen=True, checkpoint="checkpoints/vggish-10086976.pth"),
        memory=dict(num_classes=71, num_reps=5, dim=128),
        pretrained=dict(encoder="checkpoints/mit_b5.pth"),
    ),
)
# Optional stage 1 (tools/run_pipeline.py, `audio_finetune = True`; not the paper's recipe): fine-tune the audio
# encoder on frame labels derived from the masks.
# MS3 has no per-clip categories: the optional stage 1 uses the S4 training set (23 categories); the memory comes
# from the AVSS training set (71 classes, _base_/models/ddeseg_mitb5_htsat_binary.py)
s4_train = dict(type="AVSObjectS4Dataset", data_root="data/AVSBench-object/Single-source", split="train")
audio_classifier = dict(
    model=dict(audio=dict(type="vggish", frozen=False, checkpoint="checkpoints/vggish-10086976.pth")), dataset=s4_train
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
