# One more variation of the harder synthetic set (docs/datasets.md "The harder synthetic set"), used by
# configs/ddeseg_synthetic_hard_s1.py: another seed (new
# voices, instances, clips) and smaller objects (object_scale 0.7: 2.1-7 % of the frame each), in its own data_root.
# Swap it for ./synthetic_hard.py in a leaf's _base_ list.
_base_ = ["./synthetic_hard.py"]
data_root = "data/synthetic_hard_s1"
synthetic_seed = 1
synthetic_generator = dict(object_scale=0.7, num_train=400, num_val=60, num_test=150)
_dataset = dict(data_root=data_root, seed=synthetic_seed, generator=synthetic_generator)
train_dataloader = dict(dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
