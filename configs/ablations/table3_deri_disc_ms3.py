# Table 3 ablation on MS3: Deri.+Disc.: full DDM (eqs. 5-12), no DEM. Paper J&F / J / F = 73.40 / 67.50 / 79.30.
# Audio: VGGish. Table 3's MS3 full-model row (75.57 / 70.10 / 81.03) equals Table 1's MiT-B5 + VGGish row, so the
# MS3 ablations were run with VGGish (interpretation, docs/design.md); the network is the released one.
_base_ = ["../ddeseg_ms3_vggish.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(derivation=dict(enabled=True, step3=True), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
