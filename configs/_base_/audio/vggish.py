# The audio encoder of the paper's VGGish rows: the frozen AudioSet VGGish, 16 kHz input (the 0.96-s log-mel example of
# each 1-s window), 128-d features (the memory's slot width). Used as ./htsat.py (see there).
audio_sample_rate = 16000
audio_backbone = dict(type="vggish", frozen=True, checkpoint="checkpoints/vggish-10086976.pth")
audio_memory_dim = 128
