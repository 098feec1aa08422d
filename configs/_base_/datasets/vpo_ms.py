# VPO-MS (multiple sources): the VPO-SS base (COCO images + VGGSound audio, 21 classes + background, no validation split)
# with the ms setting.
_base_ = ["./vpo_ss.py"]
train_dataloader = dict(dataset=dict(setting="ms"))
test_dataloader = dict(dataset=dict(setting="ms"))
