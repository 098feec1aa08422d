# Table 4 elimination design on MS3: wo/Elimination (scheme 1). Paper J&F / J / F = 73.4 / 67.5 / 79.3.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="none")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
