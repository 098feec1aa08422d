# The audio encoder of the paper's HTSAT rows (§4): the frozen AudioSet HTS-AT, its own 32 kHz front-end, 768-d
# features (the memory's slot width). A family's top config puts `audio_backbone` into model.net.audio (and, unfrozen,
# into the optional stage-1 classifier), `audio_memory_dim` into model.net.memory.dim, and builds its dataloader
# pipelines with LoadAudioWindow at `audio_sample_rate` (the dataset bases hold data only).
audio_sample_rate = 32000
audio_backbone = dict(type="htsat", frozen=True, checkpoint="checkpoints/HTSAT_AudioSet_Saved_1.ckpt")
audio_memory_dim = 768
