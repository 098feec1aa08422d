# Built-in synthetic AV dataset (AVSS layout, generated from a seed into `data_root` on first use; see
# mmseg_plugin.datasets AVSSyntheticDataset). 64 x 64 frames, 1-s audio windows (16 kHz wav; LoadAudioWindow names no
# rate here: the leaf sets the audio backbone's from its _base_/audio base, docs/configs.md), selection on val.
dataset_type = "AVSSyntheticDataset"
data_root = "data/synthetic"
crop_size = (64, 64)
train_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow"),
    dict(type="Resize", scale=crop_size, keep_ratio=False),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackAVSInputs"),
]
test_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow"),
    dict(type="Resize", scale=crop_size, keep_ratio=False),
    dict(type="PackAVSInputs"),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, seed=0, split="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, seed=0, split="val", pipeline=test_pipeline, test_mode=True),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, seed=0, split="test", pipeline=test_pipeline, test_mode=True),
)
val_evaluator = dict(type="AVSMetric", mode="avsbench", report=("avsbench", "dataset"), binary_score="probabilities")
test_evaluator = val_evaluator
