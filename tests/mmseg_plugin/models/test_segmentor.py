"""AVSSegmentor: loss / predict / tensor modes, one train and one val step, binary task, memory refusal, hooks."""

import os

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmseg_plugin.models  # noqa: F401  (registrations)
import mmseg_plugin.models.losses  # noqa: F401
from ddeseg_layers.memory import SemanticMemory
from mmseg_plugin.hooks import MARKER, is_trusted, load_local_checkpoint, trust_directory
from mmseg_plugin.models.segmentor import AVSSegmentor

DIM = 16


def _net(num_classes, mem_classes=None):
    return dict(
        num_classes=num_classes,
        encoder=dict(
            embed_dims=(8, 8, 16, 16),
            num_heads=(1, 1, 2, 2),
            depths=(1, 1, 1, 1),
            sr_ratios=(4, 2, 1, 1),
            drop_path_rate=0.0,
        ),
        audio=dict(type="precomputed", dim=DIM),
        memory=dict(num_classes=mem_classes or num_classes, num_reps=2),
        derivation=dict(num_neighbors=2),
        elimination=dict(num_heads=2, num_centers=2),
        head=dict(embed_dim=16),
    )


def _memory(path, num_classes, dim=DIM):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(8 * num_classes, dim, generator=g)
    labels = torch.arange(8 * num_classes) % num_classes
    SemanticMemory.build(feats, labels, num_clusters=2, num_reps=1, num_classes=num_classes).save(path)
    return path


SEMANTIC_LOSSES = [
    dict(type="AVSDiceLoss", loss_weight=5.0),
    dict(type="AVSCrossEntropyLoss", loss_weight=5.0),
    dict(type="AVSIoULoss", loss_weight=2.0),
]
BINARY_LOSSES = [
    dict(type="AVSDiceLoss", loss_weight=5.0),
    dict(type="AVSBCELoss", loss_weight=5.0),
    dict(type="AVSIoULoss", loss_weight=2.0),
]


def _segmentor(tmp_path, task="semantic", num_classes=4):
    nc = 1 if task == "binary" else num_classes
    mem = _memory(str(tmp_path / "mem.pth"), num_classes)
    return AVSSegmentor(
        net=_net(nc, mem_classes=num_classes),
        losses=BINARY_LOSSES if task == "binary" else SEMANTIC_LOSSES,
        task=task,
        semantic_memory_path=mem,
        data_preprocessor=dict(type="AVSDataPreprocessor", mean=[0, 0, 0], std=[255, 255, 255]),
    )


def _data(b=2, h=32, w=32, num_classes=4, binary=False):
    g = torch.Generator().manual_seed(1)
    imgs, auds, samples = [], [], []
    for i in range(b):
        imgs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g))
        auds.append(torch.randn(DIM, generator=g))
        gt = torch.zeros(1, h, w, dtype=torch.long)
        gt[:, 4:20, 6:22] = 1 if binary else (i % (num_classes - 1)) + 1
        gt[:, 0, 0] = 255
        ds = SegDataSample()
        ds.gt_sem_seg = PixelData(data=gt)
        ds.set_metainfo(dict(img_path=f"{i}.jpg", ori_shape=(h, w), img_shape=(h, w), has_label=True))
        samples.append(ds)
    return dict(inputs=dict(img=imgs, audio=auds), data_samples=samples)


def test_loss_mode_reports_each_term_and_backpropagates(tmp_path):
    model = _segmentor(tmp_path)
    batch = model.data_preprocessor(_data(), True)
    losses = model(**batch, mode="loss")
    assert set(losses) == {"loss_dice", "loss_ce", "loss_iou"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("net.head.") and p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_train_step_and_val_step(tmp_path):
    torch.manual_seed(0)
    model = _segmentor(tmp_path)
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    data = _data()
    first = model.train_step(data, optim)["loss"].item()
    for _ in range(4):
        last = model.train_step(_data(), optim)["loss"].item()
    assert last < first  # the same batch is fitted
    outs = model.val_step(_data())
    assert len(outs) == 2
    for ds in outs:
        assert ds.pred_sem_seg.data.shape == (1, 32, 32)
        assert ds.seg_logits.data.shape == (4, 32, 32)
        assert torch.equal(ds.pred_sem_seg.data, ds.seg_logits.data.argmax(0, keepdim=True))


def test_tensor_mode_returns_logits(tmp_path):
    model = _segmentor(tmp_path).eval()
    batch = model.data_preprocessor(_data(b=3), False)
    out = model(**batch, mode="tensor")
    assert out.shape == (3, 4, 32, 32)


def test_binary_task_predicts_probabilities_and_threshold(tmp_path):
    model = _segmentor(tmp_path, task="binary").eval()
    batch = model.data_preprocessor(_data(binary=True), False)
    losses = model(**batch, mode="loss")
    assert set(losses) == {"loss_dice", "loss_bce", "loss_iou"}
    outs = model(**model.data_preprocessor(_data(binary=True), False), mode="predict")
    prob = outs[0].seg_logits.data
    assert prob.shape == (1, 32, 32) and (prob >= 0).all() and (prob <= 1).all()
    assert torch.equal(outs[0].pred_sem_seg.data, (prob > 0.5).long())


def test_postprocess_crops_padding_and_resizes_to_gt():
    model = AVSSegmentor.__new__(AVSSegmentor)
    torch.nn.Module.__init__(model)
    model.threshold = 0.5
    logits = torch.zeros(1, 3, 8, 8)
    logits[0, 2, :4, :6] = 5.0  # the un-padded 4x6 region predicts class 2; padding predicts class 0
    ds = SegDataSample()
    ds.set_metainfo(dict(padding_size=[0, 2, 0, 4]))
    ds.gt_sem_seg = PixelData(data=torch.zeros(1, 8, 12, dtype=torch.long))
    out = model.postprocess_result(logits, [ds])[0]
    assert out.pred_sem_seg.data.shape == (1, 8, 12)
    assert (out.pred_sem_seg.data == 2).all()


def test_task_and_class_count_checked():
    with pytest.raises(ValueError, match="num_classes=1"):
        AVSSegmentor(net=_net(4), losses=BINARY_LOSSES, task="binary")
    with pytest.raises(ValueError, match="task must be"):
        AVSSegmentor(net=_net(4), losses=SEMANTIC_LOSSES, task="panoptic")


def test_mismatched_memory_is_refused_with_the_path(tmp_path):
    wrong_classes = _memory(str(tmp_path / "wrong_c.pth"), 5)
    with pytest.raises(ValueError, match="wrong_c.pth.*refusing to start"):
        AVSSegmentor(net=_net(4), losses=SEMANTIC_LOSSES, semantic_memory_path=wrong_classes)
    wrong_dim = _memory(str(tmp_path / "wrong_d.pth"), 4, dim=DIM + 1)
    with pytest.raises(ValueError, match="wrong_d.pth"):
        AVSSegmentor(net=_net(4), losses=SEMANTIC_LOSSES, semantic_memory_path=wrong_dim)


def test_empty_memory_refuses_to_train(tmp_path):
    model = AVSSegmentor(
        net=_net(4),
        losses=SEMANTIC_LOSSES,
        semantic_memory_path=str(tmp_path / "absent.pth"),
        data_preprocessor=dict(type="AVSDataPreprocessor"),
    )
    batch = model.data_preprocessor(_data(), True)
    with pytest.raises(RuntimeError, match="absent.pth.*build_semantic_memory"):
        model(**batch, mode="loss")
    # a checkpoint holding the memory fills it (the memory is part of the state dict)
    donor = _segmentor(tmp_path)
    model.load_state_dict(donor.state_dict())
    model.check_memory()


def test_check_hook_leaves_the_late_load_to_the_segmentor(tmp_path, monkeypatch):
    """A memory written after the model was built is loaded by AVSSegmentor.load_memory_if_appeared (through
    load_semantic_memory, the segmentor's one loader), which the check hook calls; the hook itself only checks."""
    from types import SimpleNamespace

    from mmseg_plugin.hooks.memory_check_hook import SemanticMemoryCheckHook

    path = str(tmp_path / "late.pth")
    model = AVSSegmentor(net=_net(4), losses=SEMANTIC_LOSSES, semantic_memory_path=path)
    assert model.load_memory_if_appeared() is False  # no file yet
    _memory(path, 4)
    loaded = []
    monkeypatch.setattr(model, "load_semantic_memory", lambda p, f=model.load_semantic_memory: loaded.append(p) or f(p))
    runner = SimpleNamespace(model=model, train_dataloader=None, logger=SimpleNamespace(info=lambda msg: None))
    SemanticMemoryCheckHook().before_train(runner)
    assert loaded == [path]
    model.check_memory()
    assert model.load_memory_if_appeared() is False  # populated: nothing loaded twice
    assert loaded == [path]


def test_run_checkpoint_loader_trusts_only_run_dirs(tmp_path):
    run, other = tmp_path / "run", tmp_path / "third_party"
    run.mkdir()
    other.mkdir()
    obj = {"meta": {"note": object.__new__(SegDataSample)}, "w": torch.ones(2)}  # needs full unpickling
    torch.save(obj, run / "iter_2.pth")
    torch.save(obj, other / "weights.pth")
    with pytest.raises(RuntimeError, match="weights_only=True"):
        load_local_checkpoint(str(other / "weights.pth"))
    assert not is_trusted(str(run / "iter_2.pth"))
    (run / MARKER).write_text("x")
    assert is_trusted(str(run / "iter_2.pth"))
    assert torch.equal(load_local_checkpoint(str(run / "iter_2.pth"))["w"], torch.ones(2))
    os.remove(run / MARKER)
    trust_directory(str(run))
    assert is_trusted(str(run / "iter_2.pth")) and not is_trusted(str(other / "weights.pth"))
