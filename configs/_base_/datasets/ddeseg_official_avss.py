# AVSS in the authors' per-frame re-layout (metadata_w_silent.csv, audios/<i>.wav, labels_semantic/), for
# official-code parity. Selection on VAL even so (the official code selects on the test split; we do not).
# LoadAudioWindow names no rate here: the leaf sets the audio backbone's from its _base_/audio base (docs/configs.md).
dataset_type = "DDESegOfficialAVSSDataset"
data_root = "data/AVSS-ddeseg"
crop_size = (224, 224)
# The release's training augmentation, in its order: box-aware random crop on the original frame (aspect 0.75-1.33,
# keeps >= 0.6 of the sounding objects' box), horizontal flip p=0.5, ColorJitter(0.2, 0.2, 0.2, 0.1), then the
# 224 x 224 resize (PIL bilinear / nearest, as the release's torchvision Resize on PIL images; also at test time).
train_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow"),
    dict(type="SoundingBoxRandomCrop", aspect_ratio_range=(0.75, 1.33), min_area_ratio=0.6),
    dict(type="RandomFlip", prob=0.5),
    dict(type="ReleaseColorJitter", brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
    dict(type="Resize", scale=crop_size, keep_ratio=False, backend="pillow"),
    dict(type="PackAVSInputs"),
]
test_pipeline = [
    dict(type="LoadAVSImageFromFile"),
    dict(type="LoadAVSAnnotations"),
    dict(type="LoadAudioWindow"),
    dict(type="Resize", scale=crop_size, keep_ratio=False, backend="pillow"),
    dict(type="PackAVSInputs"),
]
train_dataloader = dict(
    batch_size=16,  # per GPU; the release: 50 per process on 2 GPUs; lr follows auto_scale_lr (base batch 100)
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
# AVSMetric: the main keys (J&F, the checkpoint selection) in the dataset-level convention the paper reports (CAVP /
# DDESeg), the per-frame AVSBench numbers logged beside them (avsbench/...).
val_evaluator = dict(type="AVSMetric", mode="dataset", report=("dataset", "avsbench"), binary_score="probabilities")
test_evaluator = val_evaluator
