# Table 3 ablation on MS3: Baseline: no DDM (F_a repeated K times) and no DEM. Paper J&F / J / F = 65.81 / 60.03 / 71.59.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/table3_baseline_ms3"
model = dict(
    require_memory=False,  # no DDM: the memory is never read
    semantic_memory_path=work_dir + "/semantic_memory.pth",
    net=dict(derivation=dict(enabled=False), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
