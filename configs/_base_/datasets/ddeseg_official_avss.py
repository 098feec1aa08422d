# AVSS in the authors' per-frame re-layout (metadata_w_silent.csv, audios/<i>.wav, labels_semantic/), for
# official-code parity. Selection on VAL even so (the official code selects on the test split; we do not).
dataset_type = "DDESegOfficialAVSSDataset"
data_root = "data/AVSS-ddeseg"
crop_size = (224, 224)
audio_sample_rate = 32000  # HTSAT; VGGish configs override with 16000
train_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow", sample_rate=audio_sample_rate),
    dict(type="Resize", scale=crop_size, keep_ratio=False),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackAVSInputs"),
]
test_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow", sample_rate=audio_sample_rate),
    dict(type="Resize", scale=crop_size, keep_ratio=False),
    dict(type="PackAVSInputs"),
]
train_dataloader = dict(
    batch_size=16,  # per GPU; the official run used 50 per process on 2 GPUs (field notes §1.9)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split="train", subsets="all", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split="val", subsets="all", pipeline=test_pipeline, test_mode=True
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split="test", subsets="all", pipeline=test_pipeline, test_mode=True
    ),
)
# AVSMetric: per-frame AVSBench J/F (default, batch-size independent) and the dataset-level CAVP/DDESeg numbers.
val_evaluator = dict(type="AVSMetric", mode="avsbench", report=("avsbench", "dataset"), binary_score="probabilities")
test_evaluator = val_evaluator
