# Table 4 elimination design on AVSS: GS+CA+FC+Sigmoid (scheme 5, = the full model). Paper J&F / J / F = 67.9 / 63.4 / 72.3.
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="gs")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
