# Table 3 ablation on MS3: Baseline: no DDM (F_a repeated K times) and no DEM. Paper J&F / J / F = 65.81 / 60.03 / 71.59.
# Audio: VGGish. Table 3's MS3 full-model row (75.57 / 70.10 / 81.03) equals Table 1's MiT-B5 + VGGish row, so the
# MS3 ablations were run with VGGish (interpretation, docs/design.md); the network is the released one.
_base_ = ["../ddeseg_ms3_vggish.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    require_memory=False,  # no DDM: the memory is never read
    semantic_memory_path=semantic_memory_path,
    net=dict(derivation=dict(enabled=False), elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
