# A plain log-mel CNN audio encoder at 16 kHz (ddeseg_layers/audio/logmel_cnn.py: torchaudio MelSpectrogram, 64 bins,
# four conv + BN blocks, mean + max pooling over time; 128-d), trained from scratch in stage 1 (the leaf points
# `checkpoint` at its stage-1 output). Not one of the paper's encoders (AudioSet-pre-trained HTS-AT / VGGish): the
# harder synthetic preset uses it because a tiny HTS-AT trained from scratch does not learn that set's sound classes
# (docs/training.md, "Stage 1"). The memory takes its width from the encoder.
audio_sample_rate = 16000
audio_backbone = dict(type="logmel_cnn", frozen=True, checkpoint=None)
audio_memory_dim = 128
