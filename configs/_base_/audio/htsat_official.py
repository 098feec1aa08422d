# The release's audio encoder (official-code parity, ddeseg_official_avss.py): HTS-AT in the release's variant, fed
# 22.05 kHz audio, the release's cleaned AudioSet checkpoint, 768-d features. Used as ./htsat.py (see there).
audio_sample_rate = 22050
audio_backbone = dict(
    type="htsat", variant="official", frozen=True, checkpoint="checkpoints/HTSAT_AudioSet_Saved_1_clean.ckpt"
)
audio_memory_dim = 768
