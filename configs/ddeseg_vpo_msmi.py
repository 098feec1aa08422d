# DDESeg (Trans. = MiT-B5 + HTSAT), Table 2 (VPO-MSMI): paper J&F / J / F = 68.39 / 62.11 / 74.67.
# The VPO-SS row (ddeseg_vpo_ss.py) on the VPO-MSMI setting.
_base_ = ["./ddeseg_vpo_ss.py"]
train_dataloader = dict(dataset=dict(setting="msmi"))
test_dataloader = dict(dataset=dict(setting="msmi"))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
