"""The Fig. 6 analysis (mmseg_plugin/audio_analysis.py, tools/analyze_audio.py): linear probe, t-SNE picture and the
representation recorder on a tiny DDESeg."""

import os

import numpy as np
import pytest
import torch

from mmseg_plugin.audio_analysis import (
    AudioRepresentationRecorder,
    derivation_statistics,
    linear_probe,
    plot_tsne,
    tsne_embedding,
)

pytestmark = pytest.mark.mmseg


def _blobs(n_per_class, num_classes, dim, spread, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10.0, size=(num_classes, dim))
    y = np.repeat(np.arange(num_classes), n_per_class)
    x = centres[y] + rng.normal(0, spread, size=(len(y), dim))
    return x, y


def test_probe_separates_a_separable_set():
    x_fit, y_fit = _blobs(60, 4, 16, 1.0, seed=0)
    x_ev, y_ev = _blobs(40, 4, 16, 1.0, seed=0)  # same centres (same seed), fresh noise below
    x_ev = x_ev + np.random.default_rng(1).normal(0, 1.0, size=x_ev.shape)
    r = linear_probe(x_fit, y_fit, x_ev, y_ev)
    assert r["accuracy"] >= 99.0 and r["balanced_accuracy"] >= 99.0 and r["macro_f1"] >= 99.0
    assert r["chance_balanced"] == pytest.approx(25.0) and r["chance_majority"] == pytest.approx(25.0)
    assert r["n_fit"] == 240 and r["n_eval"] == 160 and r["classes"] == [0, 1, 2, 3]


def test_probe_is_at_chance_on_shuffled_labels():
    x, y = _blobs(200, 4, 16, 1.0, seed=0)
    rng = np.random.default_rng(2)
    y = rng.permutation(y)  # labels no longer follow the features
    idx = rng.permutation(len(y))
    fit, ev = idx[:400], idx[400:]
    r = linear_probe(x[fit], y[fit], x[ev], y[ev])
    assert abs(r["balanced_accuracy"] - 25.0) < 10.0  # 400 held-out frames: chance +- 2.5 sigma


def test_probe_refuses_bad_input():
    x, y = _blobs(5, 2, 3, 1.0, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        linear_probe(x, np.zeros(len(x)), x, y)
    with pytest.raises(ValueError, match="one d"):
        linear_probe(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="labels"):
        linear_probe(x, y[:-1], x, y)


def test_tsne_picture_is_written(tmp_path):
    x, y = _blobs(10, 3, 8, 0.5, seed=0)
    emb = tsne_embedding(x, seed=0)
    assert emb.shape == (30, 2) and np.isfinite(emb).all()
    # well separated blobs stay separated: each point's nearest neighbour in 2-D has its class
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1) + np.eye(len(emb)) * 1e9
    assert (y[d.argmin(1)] == y).mean() >= 0.95
    path = plot_tsne({"F_a": emb, "DDM": emb}, y, ["bg", "a", "b", "c"], str(tmp_path / "t.png"), suptitle="x")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 2000


def _tiny_net():
    from ddeseg_layers import build_ddeseg
    from ddeseg_layers.memory import SemanticMemory
    from ddeseg_layers.model import preset_config

    torch.manual_seed(0)
    net = build_ddeseg(preset_config("tiny"))  # 4 classes, 32-d precomputed audio, K = 2
    feats = torch.randn(36, 32)
    net.set_memory(SemanticMemory.build(feats, torch.arange(36) % 3 + 1, num_clusters=3, num_reps=1, num_classes=4))
    return net.eval()


def test_recorder_returns_the_networks_own_intermediates_without_graphs():
    net = _tiny_net()
    img, aud = torch.randn(3, 3, 32, 32), torch.randn(3, 32)
    with AudioRepresentationRecorder(net) as rec:
        net(img, aud)  # with grad enabled: the records must still hold no graph
        net(img[:1], aud[:1])
    reps = rec.stacked()
    assert {k: tuple(v.shape) for k, v in reps.items()} == {"F_a": (4, 32), "DDM": (4, 32), "DEM": (4, 32)}
    assert all(not v.requires_grad and v.grad_fn is None for v in reps.values())
    assert not net.audio._forward_hooks and not net.encoder._forward_hooks  # hooks removed on exit
    with torch.no_grad():
        fa = net.extract_audio_features(aud)
        tokens = net.derivation(fa, net.memory)  # A^1 [3, K, d]
        net.encoder(img, tokens)
        w = torch.ones(3, tokens.shape[1])
        for s in net.encoder.last_scores:  # paper variant: the scores carried stage to stage
            w = w * s.reshape(3, -1)
    assert len(net.encoder.last_scores) == 3  # DEM at stages 2-4
    torch.testing.assert_close(reps["F_a"][:3], fa)
    torch.testing.assert_close(reps["DDM"][:3], tokens.mean(1))
    torch.testing.assert_close(reps["DEM"][:3], (w.unsqueeze(-1) * tokens).sum(1))
    assert not torch.allclose(reps["DEM"][:3], tokens.sum(1))  # the scores do weight the tokens


def test_derivation_statistics_on_hand_made_tokens():
    torch.manual_seed(0)
    fa = torch.randn(4, 8)
    collapsed = fa[:, None].repeat(1, 3, 1)  # the Table 3 baseline's tokens: F_a repeated K = 3 times
    eye = torch.eye(8)[:3]  # three orthogonal offsets, 5 x |F_a| each: nearly orthogonal tokens
    distinct = fa[:, None] + 5.0 * fa.norm(dim=-1)[:, None, None] * eye[None]
    selected = torch.tensor([[1, 2, 3], [1, 2, 3], [4, 5, 6], [2, 1, 7]])
    sounding = [[1], [2, 3], [4, 9], []]  # 1/1, 2/2, 1/2 found; the silent frame counts for nothing
    scores = [torch.tensor([[0.9, 0.1, 0.1], [0.8, 0.7, 0.2], [0.6, 0.3, 0.3], [0.5, 0.5, 0.5]])]
    c = derivation_statistics(fa, collapsed, selected, sounding, scores)
    assert c["token_cosine"] == pytest.approx(1.0) and c["offset_ratio"] == pytest.approx(0.0)
    assert c["selection_recall"] == pytest.approx(100.0 * 4 / 5)
    assert c["selection_recall_by_sources"] == pytest.approx({"1": 100.0, "2": 75.0})
    st = c["stages"][0]
    # sounding-class tokens: (0,0)=0.9, (1,1)=0.7, (1,2)=0.2, (2,0)=0.6; the other 8 are silent
    assert (st["n_sounding"], st["n_silent"]) == (4, 8)
    assert st["score_sounding"] == pytest.approx((0.9 + 0.7 + 0.2 + 0.6) / 4)
    assert st["score_silent"] == pytest.approx((0.1 + 0.1 + 0.8 + 0.3 + 0.3 + 0.5 + 0.5 + 0.5) / 8)
    assert st["score_spread"] == pytest.approx(scores[0].std(1, unbiased=False).mean().item())
    d = derivation_statistics(fa, distinct, selected, sounding)
    assert d["token_cosine"] < 0.2 and d["offset_ratio"] == pytest.approx(5.0) and d["stages"] == []
    with pytest.raises(ValueError, match="K >= 2"):
        derivation_statistics(fa, collapsed[:, :1], selected[:, :1], sounding)
    with pytest.raises(ValueError, match="selected must be"):
        derivation_statistics(fa, collapsed, selected[:3], sounding)


def test_derivation_records_of_a_tiny_network_match_its_forward(monkeypatch):
    from types import SimpleNamespace

    from mmseg_plugin.audio_analysis import collect_derivation_records

    net = _tiny_net()
    k = net.derivation.num_neighbors
    img, aud = torch.randn(3, 3, 32, 32), torch.randn(3, 32)
    masks = [torch.zeros(1, 32, 32, dtype=torch.long) for _ in range(3)]
    masks[0][0, :4, :4] = 1
    masks[1][0, :4, :4], masks[1][0, 8:, 8:] = 2, 255  # the ignore index is not a sounding class

    class Model(torch.nn.Module):  # the segmentor interface the collector drives
        def __init__(self):
            super().__init__()
            self.net = net

        def test_step(self, batch):
            self.net(torch.stack([b["img"] for b in batch]), torch.stack([b["aud"] for b in batch]))

    class Data:
        metainfo = dict(classes=tuple(f"c{i}" for i in range(net.memory.num_classes)), ignore_index=255)

        def __len__(self):
            return 3

        def __getitem__(self, i):
            seg = SimpleNamespace(data=masks[i])
            return dict(img=img[i], aud=aud[i], data_samples=SimpleNamespace(gt_sem_seg=seg))

    # batches of two items and a last one of one; plain lists instead of mmengine's collated dicts
    monkeypatch.setattr(
        "mmengine.dataset.pseudo_collate", lambda items: [dict(img=x["img"], aud=x["aud"]) for x in items]
    )
    rec = collect_derivation_records(Model(), Data(), batch_size=2)
    assert rec["sounding"] == [[1], [2], []]
    net.eval()
    with torch.no_grad():
        fa = net.extract_audio_features(aud)
        tokens = net.derivation(fa, net.memory)
        net.encoder(img, tokens)
    torch.testing.assert_close(rec["audio"], fa)
    torch.testing.assert_close(rec["tokens"], tokens)
    assert torch.equal(rec["selected"], net.derivation.last_indices) and rec["selected"].shape == (3, k)
    assert len(rec["scores"]) == len(net.encoder.last_scores) == 3
    for got, want in zip(rec["scores"], net.encoder.last_scores):
        torch.testing.assert_close(got, want.reshape(3, k))
    stats = derivation_statistics(**rec)
    assert stats["n_frames"] == 3 and -1.0 <= stats["token_cosine"] <= 1.0 and len(stats["stages"]) == 3
    net.derivation.enabled = False
    with pytest.raises(ValueError, match="DDM is disabled"):
        collect_derivation_records(Model(), Data())


@pytest.mark.slow
def test_analyze_tool_end_to_end(tmp_path, tool, tiny_synthetic_config):
    """tools/analyze_audio.py on a random checkpoint of the tiny synthetic set: PNGs, probe.json, npz."""
    import json

    from mmengine.config import Config
    from mmseg.registry import DATASETS, MODELS

    import mmseg_plugin.registry  # noqa: F401
    from ddeseg_layers.memory import SemanticMemory
    from mmseg_plugin.apis.scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    cfg_path = tiny_synthetic_config(tmp_path, train=6, test=4)
    cfg = Config.fromfile(cfg_path)
    ds = DATASETS.build(cfg.test_dataloader.dataset.to_dict())
    c = len(ds.metainfo["classes"])
    model_cfg = cfg.model.to_dict()
    model_cfg["net"]["num_classes"] = model_cfg["net"]["memory"]["num_classes"] = c
    model_cfg["net"]["audio"]["checkpoint"] = None
    torch.manual_seed(0)
    d = MODELS.build(dict(model_cfg, semantic_memory_path=None, require_memory=False)).net.audio_dim
    mem = str(tmp_path / "mem.pth")
    SemanticMemory.build(torch.randn(6 * c, d), torch.arange(6 * c) % c, num_clusters=2, num_reps=2,
                         num_classes=c).save(mem)  # fmt: skip
    model = MODELS.build(dict(model_cfg, semantic_memory_path=mem))
    ckpt = str(tmp_path / "run" / "model.pth")
    os.makedirs(os.path.dirname(ckpt))
    meta = dict(classes=tuple(ds.metainfo["classes"]), palette=ds.metainfo["palette"])
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), ckpt)
    out = str(tmp_path / "analysis")
    res = tool("analyze_audio").main([cfg_path, ckpt, "--out", out])
    for name in ("tsne.png", "tsne_F_a.png", "tsne_DDM.png", "tsne_DEM.png", "probe.json", "representations.npz"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "probe.json")) as f:
        saved = json.load(f)
    assert saved["probe"].keys() == {"F_a", "DDM", "DEM"} and saved["n_eval"] == res["n_eval"] > 0
    der = saved["derivation"]
    assert der["split"] == "test" and der["n_frames"] == len(ds) and len(der["stages"]) == 3
    z = np.load(os.path.join(out, "representations.npz"))
    assert z["test_F_a"].shape == (res["n_eval"], d) and z["train_labels"].shape == (res["n_fit"],)
