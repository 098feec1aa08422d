# AVSBench-semantic (AVSS), official layout under `data_root` (metadata.csv, label2idx.json, v1s/ v1m/ v2/).
# 71 classes (background = 0); subsets v1s + v1m + v2; masks from labels_rgb/ through the VOC palette. Frames at
# 224 x 224 (official: val/test resized to 224, masks nearest); 1-s audio window per frame, resampled to the audio
# backbone's rate: LoadAudioWindow names none here, the leaf sets it from its _base_/audio base (docs/configs.md).
# Model selection on VAL; the test split is only read by `mim test` / tools/test.py.
dataset_type = "AVSSemanticDataset"
data_root = "data/AVSBench-semantic"
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
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="train",
        subsets="all",
        label_source="rgb",
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="val",
        subsets="all",
        label_source="rgb",
        pipeline=test_pipeline,
        test_mode=True,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="test",
        subsets="all",
        label_source="rgb",
        pipeline=test_pipeline,
        test_mode=True,
    ),
)
# AVSMetric: the main keys (J&F, the checkpoint selection) in the dataset-level convention the paper reports (CAVP /
# DDESeg), the per-frame AVSBench numbers logged beside them (avsbench/...).
val_evaluator = dict(type="AVSMetric", mode="dataset", report=("dataset", "avsbench"), binary_score="probabilities")
test_evaluator = val_evaluator
