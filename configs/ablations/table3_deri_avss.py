# Table 3 ablation on AVSS: Deri.: DDM Step 2 only (eqs. 5-8), no Step 3, no DEM. Paper J&F / J / F = 62.60 / 57.14 / 68.06.
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(derivation=dict(enabled=True, step3=False), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
