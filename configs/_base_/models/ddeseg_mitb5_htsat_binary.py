# DDESeg for the binary AVSBench-object tasks (S4 / MS3): one sigmoid channel, Dice + BCE + IoU (5 / 5 / 2).
# The semantic memory has the 71 AVSS classes, as the release's S4 / MS3 runs use its 71-class AVSS bank: it is built
# from the single-source frames of the AVSS training set (memory_builder.dataset, labels from the semantic masks:
# label_task="semantic"); set `avss_data_root` (or memory_builder.dataset.data_root) to your AVSBench-semantic copy.
_base_ = ["./ddeseg_mitb5_htsat.py"]
num_classes = 1
memory_classes = 71
avss_data_root = "data/AVSBench-semantic"
semantic_memory_path = "work_dirs/semantic_memory/s4_htsat.pth"
model = dict(
    task="binary",
    semantic_memory_path=semantic_memory_path,
    net=dict(num_classes=1, memory=dict(num_classes=memory_classes, num_reps=5, dim=768)),
    losses=[
        dict(type="AVSDiceLoss", loss_weight=5.0, loss_name="loss_dice"),
        dict(type="AVSBCELoss", loss_weight=5.0, loss_name="loss_bce"),
        dict(type="AVSIoULoss", loss_weight=2.0, loss_name="loss_iou"),
    ],
)
avss_train = dict(type="AVSSemanticDataset", data_root=avss_data_root, split="train", subsets="all", label_source="rgb")
memory_builder = dict(cache_dir="work_dirs/semantic_memory/cache_s4_htsat", dataset=avss_train, label_task="semantic")
# the 23 S4 categories (field notes §2): targets of the optional stage 1 (`audio_finetune = True`) of the binary tasks
s4_categories = [
    "ambulance_siren",
    "baby_laughter",
    "cap_gun_shooting",
    "cat_meowing",
    "chainsawing_trees",
    "coyote_howling",
    "dog_barking",
    "driving_buses",
    "female_singing",
    "helicopter",
    "horse_clip-clop",
    "lawn_mowing",
    "lions_roaring",
    "male_speech",
    "mynah_bird_singing",
    "playing_acoustic_guitar",
    "playing_glockenspiel",
    "playing_piano",
    "playing_tabla",
    "playing_ukulele",
    "playing_violin",
    "race_car",
    "typing_on_computer_keyboard",
]
audio_classifier = dict(model=dict(num_classes=None, class_names=s4_categories, category_key="category"))
