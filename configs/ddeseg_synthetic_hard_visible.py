# Diagnostic ("visual ceiling"), not the paper: configs/ddeseg_synthetic_hard.py with every split's labels replaced by
# labels_visible/ (every on-screen object, sounding or silent; AVSSyntheticDataset label_source="visible"), same
# frames, model, audio encoder, memory and schedule. It measures what the visual half of the recipe learns in its
# budget with the audio question removed: a recipe cannot beat the visual-only oracle on the sounding-object task
# (issue target: oracle + 5) if it cannot segment the visible objects here. Run the recipe's stages 0-2 first
# (`python tools/run_pipeline.py configs/ddeseg_synthetic_hard.py --stop-after memory`), then
# `python tools/train.py configs/ddeseg_synthetic_hard_visible.py` (val J&F on visible labels in its log; test with
# tools/test.py). docs/training.md, "Learning from sound on the harder set", has the measured figures.
_base_ = ["./ddeseg_synthetic_hard.py"]
work_dir = "work_dirs/{{fileBasenameNoExtension}}"
_visible = dict(label_source="visible")
train_dataloader = dict(dataset=_visible)
val_dataloader = dict(dataset=_visible)
test_dataloader = dict(dataset=_visible)
