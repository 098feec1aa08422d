# DDESeg, paper setting (§3-4): MiT-B5 visual encoder with the audio-query fusion blocks inside its 4 stages
# (3/6/40/3 blocks), frozen HTSAT audio encoder (768-d latent), DDM with K=5 neighbours + Step 3, DEM with Gumbel-softmax
# visual centres (scheme 'gs', 5 centres, tau=1), SegFormer all-MLP head (768), loss 5 x Dice + 5 x CE/BCE + 2 x IoU.
# Semantic memory (eqs. 2-4): 5 k-means sub-clusters x 1 representative each (R = 5 slots, the size of the official
# [71, 5, 768] bank), built by tools/build_semantic_memory.py into `semantic_memory_path`.
num_classes = 71
semantic_memory_path = "work_dirs/semantic_memory/avss_htsat.pth"
data_preprocessor = dict(
    type="AVSDataPreprocessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
)
model = dict(
    type="AVSSegmentor",
    task="semantic",
    data_preprocessor=data_preprocessor,
    semantic_memory_path=semantic_memory_path,
    net=dict(
        num_classes=num_classes,
        variant="paper",
        encoder="mit_b5",
        audio=dict(type="htsat", frozen=True, checkpoint=None),
        memory=dict(num_classes=num_classes, num_reps=5, dim=768),
        derivation=dict(num_neighbors=5, step3=True, enabled=True),
        elimination=dict(num_heads=8, num_centers=5, tau=1.0, scheme="gs", enabled=True),
        head=dict(embed_dim=768, dropout=0.1),
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
# Stage-1 recipe (tools/run_pipeline.py): fine-tune the audio encoder on frame labels derived from the masks, and the
# memory-building settings (tools/build_semantic_memory.py).
memory_builder = dict(
    num_clusters=5,
    reps_per_cluster=1,
    seed=0,
    batch_size=16,
    chunk_size=512,
    cache_dir="work_dirs/semantic_memory/cache_avss_htsat",
)
audio_classifier = dict(
    model=dict(
        type="AVSAudioClassifier",
        audio=dict(type="htsat", frozen=False, checkpoint=None),
        num_classes=num_classes,
        data_preprocessor=data_preprocessor,
    ),
    max_iters=2000,
    batch_size=32,
    lr=1e-5,
    weight_decay=0.01,
)
