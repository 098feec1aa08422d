# Diagnostic, not the paper's method: the harder synthetic preset (configs/ddeseg_synthetic_hard.py) with the DDM's
# tokens replaced by F_a + mu_i of the K selected classes (DynamicDerivation(tokens="audio_plus_centroids"); the
# selection is the DDM's own). It asks whether K *distinct* class tokens help the fusion on a dataset where the
# derived tokens collapse (docs/training.md, "DDM tokens collapse"). tokens="centroids" (mu_i alone) and
# "audio_and_centroids" ([F_a, mu_1, ..., mu_{K-1}]) are the other diagnostic sources. As for the Table 3 baseline,
# copy the preset's visual_encoder.pth, audio_pretrained.pth, audio_encoder.pth (+ .json) and semantic_memory.pth
# (+ .json) into this work_dir to train only DDESeg.
_base_ = ["../ddeseg_synthetic_hard.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
semantic_memory_path = work_dir + "/semantic_memory.pth"
model = dict(
    semantic_memory_path=semantic_memory_path,
    net=dict(
        derivation=dict(tokens="audio_plus_centroids"),
        audio=dict(checkpoint=work_dir + "/audio_encoder.pth"),
        pretrained=dict(encoder=work_dir + "/visual_encoder.pth"),
    ),
)
audio_classifier = dict(work_dir=work_dir + "/audio_encoder")
memory_builder = dict(cache_dir=work_dir + "/memory_cache")
