# Table 3 ablation on AVSS: Deri.+Disc.: full DDM (eqs. 5-12), no DEM. Paper J&F / J / F = 65.55 / 61.07 / 70.03.
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(derivation=dict(enabled=True, step3=True), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
