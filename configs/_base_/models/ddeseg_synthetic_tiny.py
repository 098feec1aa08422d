# Tiny DDESeg for the synthetic CPU run: a 2-stage-wide MiT (dims 16/32/64/128, one block per stage, stride-4 stem)
# (the audio encoder, a tiny HTSAT trained in stage 1, is _base_/audio/htsat_tiny.py). Same modules and losses as the
# paper model.
num_classes = 7  # 6 synthetic classes + background; overridden by the synthetic dataset's classes (tools/run_pipeline.py reads label2idx.json)
semantic_memory_path = "work_dirs/ddeseg_synthetic/semantic_memory.pth"
data_preprocessor = dict(
    type="AVSDataPreprocessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
)
model = dict(
    type="AVSSegmentor",
    task="semantic",
    data_preprocessor=data_preprocessor,
    semantic_memory_path=semantic_memory_path,
    net=dict(
        num_classes=num_classes,
        variant="paper",
        encoder=dict(
            embed_dims=[16, 32, 64, 128],
            num_heads=[1, 2, 4, 8],
            depths=[1, 1, 1, 1],
            sr_ratios=[8, 4, 2, 1],
            mlp_ratios=[2, 2, 2, 2],
            drop_path_rate=0.0,
        ),
        memory=dict(num_classes=num_classes, num_reps=4),
        derivation=dict(num_neighbors=3, step3=True, enabled=True),
        elimination=dict(num_heads=2, num_centers=4, tau=1.0, scheme="gs", enabled=True),
        head=dict(embed_dim=64, dropout=0.0),
        pretrained=dict(encoder=None),
    ),
    losses=[
        dict(type="AVSDiceLoss", loss_weight=5.0, loss_name="loss_dice"),
        dict(type="AVSCrossEntropyLoss", loss_weight=5.0, loss_name="loss_ce"),
        dict(type="AVSIoULoss", loss_weight=2.0, loss_name="loss_iou"),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
memory_builder = dict(
    num_clusters=2,
    reps_per_cluster=2,
    seed=0,
    batch_size=32,
    chunk_size=256,
    cache_dir="work_dirs/ddeseg_synthetic/memory_cache",
)
# Stage 1: audio encoder fine-tuning on frame labels derived from the masks (AVSAudioClassifier).
audio_classifier = dict(
    model=dict(
        type="AVSAudioClassifier",
        num_classes=num_classes,
        data_preprocessor=data_preprocessor,
    ),
    max_iters=150,
    batch_size=16,
    lr=2e-3,
    weight_decay=0.01,
)
