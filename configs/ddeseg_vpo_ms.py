# DDESeg (Trans. = MiT-B5 + HTSAT), Table 2 (VPO-MS): paper J&F / J / F = 74.30 / 67.64 / 80.96.
# The VPO-SS row (ddeseg_vpo_ss.py) on the VPO-MS setting.
_base_ = ["./ddeseg_vpo_ss.py"]
train_dataloader = dict(dataset=dict(setting="ms"))
test_dataloader = dict(dataset=dict(setting="ms"))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
