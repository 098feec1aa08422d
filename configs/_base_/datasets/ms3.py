# AVSBench-object MS3 (multiple sources), official layout under `data_root` (ms3_meta_data.csv, ms3_data/...).
# Binary masks, five labelled frames per clip in every split. Selection on val. Pipelines, loaders and metric as S4.
_base_ = ["./s4.py"]
dataset_type = "AVSObjectMS3Dataset"
data_root = "data/AVSBench-object/Multi-sources"
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
