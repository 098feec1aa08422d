# Table 4 elimination design on MS3: FC+Sigmoid (scheme 2). Paper J&F / J / F = 72.1 / 66.7 / 77.4.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="fc")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
