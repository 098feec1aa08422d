# Table 4 elimination design on MS3: GS+CA+FC+Sigmoid (scheme 5, = the full model). Paper J&F / J / F = 77.9 / 72.3 / 83.4.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="gs")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
