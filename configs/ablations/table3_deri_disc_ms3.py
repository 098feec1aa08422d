# Table 3 ablation on MS3: Deri.+Disc.: full DDM (eqs. 5-12), no DEM. Paper J&F / J / F = 73.40 / 67.50 / 79.30.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/table3_deri_disc_ms3"
model = dict(
    semantic_memory_path=work_dir + "/semantic_memory.pth",
    net=dict(derivation=dict(enabled=True, step3=True), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
