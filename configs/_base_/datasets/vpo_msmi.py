# VPO-MSMI (multiple sources, multiple instances): the VPO-SS base (COCO images + VGGSound audio, 21 classes + background, no validation split)
# with the msmi setting.
_base_ = ["./vpo_ss.py"]
train_dataloader = dict(dataset=dict(setting="msmi"))
test_dataloader = dict(dataset=dict(setting="msmi"))
