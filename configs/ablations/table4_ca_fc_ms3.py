# Table 4 elimination design on MS3: CA+FC+Sigmoid (scheme 3). Paper J&F / J / F = 74.4 / 68.4 / 80.3.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="ca_fc")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
