# Table 4 elimination design on MS3: CA+FC+Sigmoid (scheme 3). Paper J&F / J / F = 74.4 / 68.4 / 80.3.
_base_ = ["../ddeseg_ms3.py"]
work_dir = "work_dirs/table4_ca_fc_ms3"
model = dict(
    semantic_memory_path=work_dir + "/semantic_memory.pth",
    net=dict(elimination=dict(scheme="ca_fc")),
)
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
