# The audio encoder of the synthetic configs: a tiny HTS-AT (192-d latent) at 16 kHz, trained from scratch in stage 1
# (no pretrained checkpoint exists; the leaf points `checkpoint` at its stage-1 output). Used as ./htsat.py (see
# there), except that the tiny model's memory takes its width from the encoder (model.net.memory names no dim).
audio_sample_rate = 16000
audio_backbone = dict(type="htsat", size="tiny", frozen=True, checkpoint=None)
audio_memory_dim = 192
