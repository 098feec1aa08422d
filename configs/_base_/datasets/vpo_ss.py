# VPO-SS (single source): COCO images + VGGSound audio (CAVP's VPO) under `data_root`; 21 classes + background (22); stereo or
# mono 3-s audio. VPO has train/test only (CAVP renames val to test): there is no validation split, so VPO leaf configs
# switch validation off and keep the last checkpoint (no selection on test). LoadAudioWindow names no rate here: the
# leaf sets the audio backbone's from its _base_/audio base (docs/configs.md).
dataset_type = "VPODataset"
data_root = "data/VPO"
crop_size = (224, 224)
train_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow"),
    dict(type="Resize", scale=crop_size, keep_ratio=False),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
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
    batch_size=16,  # per GPU; the release: 50 per process on 2 GPUs; lr follows auto_scale_lr (base batch 100)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split="train", setting="ss", pipeline=train_pipeline),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, split="test", setting="ss", pipeline=test_pipeline, test_mode=True
    ),
)
# the paper's (dataset-level) convention in the main keys, the per-frame AVSBench numbers beside them
test_evaluator = dict(type="AVSMetric", mode="dataset", report=("dataset", "avsbench"), binary_score="probabilities")
