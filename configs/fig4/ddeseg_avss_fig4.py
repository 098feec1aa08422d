# The literal Fig. 4 / §3.3 reading of DDESeg (Table 1 AVSS setting, MiT-B5 + HTSAT): variant="paper", the audio-query
# fusion block inside all 52 MiT blocks, DEM at stages 2-4, stride-4 stem, 121.24 M trainable parameters with 71
# classes. No published number comes from this network (the paper's 67.9 / 63.4 / 72.3 J&F / J / F was measured on the
# 103.8 M network of ../ddeseg_avss.py); it is the paper's text taken at its word (docs/design.md).
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(semantic_memory_path=semantic_memory_path, net=dict(variant="paper"))
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
