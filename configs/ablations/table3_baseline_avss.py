# Table 3 ablation on AVSS: Baseline: no DDM (F_a repeated K times) and no DEM. Paper J&F / J / F = 58.00 / 52.69 / 63.31.
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    require_memory=False,  # no DDM: the memory is never read
    semantic_memory_path=semantic_memory_path,
    net=dict(derivation=dict(enabled=False), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
