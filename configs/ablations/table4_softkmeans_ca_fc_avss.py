# Table 4 elimination design on AVSS: SK+CA+FC+Sigmoid (scheme 4). Paper J&F / J / F = 66.5 / 62.1 / 70.9.
_base_ = ["../ddeseg_avss.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(elimination=dict(scheme="softkmeans_ca_fc")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
