# The harder built-in synthetic AV dataset (AVSSyntheticDataset with preset="hard"; generated from a seed into
# `data_root` on first use, see docs/datasets.md "The harder synthetic set"): 128 x 128 frames, 12 classes, small
# objects (object_scale x 3-10 % of the frame), sound classes carried by temporal structure only, voices and object
# instances disjoint between splits. 1-s audio windows (16 kHz wav; LoadAudioWindow names no rate here: the leaf sets
# the audio backbone's from its _base_/audio base, docs/configs.md); selection on val.
dataset_type = "AVSSyntheticDataset"
data_root = "data/synthetic_hard"
synthetic_preset = "hard"
synthetic_seed = 0
synthetic_generator = dict(object_scale=1.0, num_train=400, num_val=60, num_test=150)
crop_size = (128, 128)
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
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    preset=synthetic_preset,
    seed=synthetic_seed,
    generator=synthetic_generator,
)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(_dataset, split="train", pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(_dataset, split="val", pipeline=test_pipeline, test_mode=True),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(_dataset, split="test", pipeline=test_pipeline, test_mode=True),
)
val_evaluator = dict(type="AVSMetric", mode="avsbench", report=("avsbench", "dataset"), binary_score="probabilities")
test_evaluator = val_evaluator
