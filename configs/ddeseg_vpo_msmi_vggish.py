# DDESeg (Trans. = MiT-B5 + VGGish; the released network, variant='official'), Table 2 (VPO-MSMI): paper J&F / J / F = 67.90 / 61.78 / 74.01.
# The VPO-SS row (ddeseg_vpo_ss_vggish.py) on the VPO-MSMI setting.
_base_ = ["./ddeseg_vpo_ss_vggish.py"]
train_dataloader = dict(dataset=dict(setting="msmi"))
test_dataloader = dict(dataset=dict(setting="msmi"))
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
