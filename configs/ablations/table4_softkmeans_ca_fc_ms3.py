# Table 4 elimination design on MS3: SK+CA+FC+Sigmoid (scheme 4). Paper J&F / J / F = 74.8 / 69.0 / 80.6.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="softkmeans_ca_fc")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
