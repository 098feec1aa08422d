# DDESeg (PVT-v2-B5 + VGGish), Table 1 (AVS-Semantic): paper J&F / J / F = 65.7 / 60.8 / 70.6.
# The MiT-B5 + VGGish row (ddeseg_avss_vggish.py) with the visual encoder swapped for PVT-v2-B5 (timm; loads timm's
# and AVSBench's pvt_v2_b5.pth). variant='paper': the release has no PVT network (our fusion placement, docs/design.md);
# the paper gives no size for this row.
_base_ = ["./ddeseg_avss_vggish.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(variant="paper", encoder="pvt_v2_b5", pretrained=dict(encoder="checkpoints/pvt_v2_b5.pth")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
