"""VGGish: torchvggish key compatibility, channels-last flatten, PCA maths, strict loader errors, freezing."""

import json
from pathlib import Path

import pytest
import torch

from ddeseg_layers.audio.builder import VGGISH_TINY
from ddeseg_layers.audio.vggish import VGGish, VGGishBackbone, VGGishPCA, load_vggish_checkpoint, load_vggish_pca
from ddeseg_layers.checkpoint import CheckpointMismatchError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "keys" / "torchvggish_vggish.json"


def random_state(keys):
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(shape, generator=g) * 0.01 for k, shape in keys.items()}


def test_published_torchvggish_keys_load_strictly(tmp_path):
    fx = json.loads(FIXTURE.read_text())
    state = random_state(fx["keys"])
    model = VGGish()
    report = load_vggish_checkpoint(model, state)
    assert sorted(report.loaded) == sorted(fx["keys"])
    torch.testing.assert_close(model.embeddings[4].weight, state["embeddings.4.weight"])
    assert model(torch.randn(2, 1, 96, 64)).shape == (2, 128)

    pca_state = random_state(fx["pca_keys"])
    pca = VGGishPCA()
    load_vggish_pca(pca, pca_state)
    torch.testing.assert_close(pca.pca_means, pca_state["pca_means"])
    flat = {"pca_eigen_vectors": pca_state["pca_eigen_vectors"], "pca_means": pca_state["pca_means"][:, 0]}
    load_vggish_pca(VGGishPCA(), flat)  # means stored as [128] are reshaped to [128, 1]


def test_checkpoint_file_round_trip(tmp_path):
    state = VGGish(**VGGISH_TINY).state_dict()
    path = tmp_path / "tiny_vggish.pth"
    torch.save(state, path)
    model = VGGish(**VGGISH_TINY)
    load_vggish_checkpoint(model, path)
    torch.testing.assert_close(model.state_dict(), state)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_vggish_checkpoint(model, tmp_path / "missing.pth")


def test_strict_loader_lists_missing_unexpected_and_shape_keys():
    state = VGGish(**VGGISH_TINY).state_dict()
    state.pop("features.0.bias")
    state["features.1.weight"] = torch.zeros(1)
    state["embeddings.4.weight"] = torch.zeros(33, 64)
    with pytest.raises(CheckpointMismatchError) as err:
        load_vggish_checkpoint(VGGish(**VGGISH_TINY), state)
    msg = str(err.value)
    assert "missing keys (1): features.0.bias" in msg
    assert "unexpected keys (1): features.1.weight" in msg
    assert "embeddings.4.weight: checkpoint (33, 64) vs model (32, 64)" in msg


def test_flatten_is_channels_last():
    """A one-hot first Linear row reads the conv map at (h, w, c) through index (h * W + w) * C + c."""
    torch.manual_seed(0)
    net = VGGish(**VGGISH_TINY, final_relu=False).eval()
    c, hgt, wid = 32, 6, 4
    h, w, ch = 4, 1, 7
    with torch.no_grad():
        for lin in (net.embeddings[0], net.embeddings[2], net.embeddings[4]):
            lin.weight.zero_()
            lin.bias.zero_()
        net.embeddings[0].weight[0, (h * wid + w) * c + ch] = 1.0
        net.embeddings[2].weight[0, 0] = 1.0
        net.embeddings[4].weight[0, 0] = 1.0
        x = torch.randn(3, 1, 96, 64)
        fmap = net.features(x)
        assert fmap.shape == (3, c, hgt, wid)
        torch.testing.assert_close(net(x)[:, 0], fmap[:, ch, h, w])


def test_final_relu_option():
    x = torch.randn(4, 1, 96, 64)
    torch.manual_seed(1)
    a = VGGish(**VGGISH_TINY)
    torch.manual_seed(1)
    b = VGGish(**VGGISH_TINY, final_relu=False)
    assert len(a.embeddings) == 6 and len(b.embeddings) == 5
    torch.testing.assert_close(a(x), b(x).clamp_min(0))


def test_pca_and_quantisation_by_hand():
    pca = VGGishPCA(dim=3, quantize=False)
    pca.pca_eigen_vectors.copy_(torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]))
    pca.pca_means.copy_(torch.tensor([[1.0], [0.5], [0.0]]))
    x = torch.tensor([[2.0, 1.5, 3.0]])  # x - mu = [1, 1, 3] -> E @ (x - mu) = [2, 1, -3]
    torch.testing.assert_close(pca(x), torch.tensor([[2.0, 1.0, -3.0]]))
    pca.quantize = True  # clip to [-2, 2], then round((y + 2) * 255 / 4): 2 -> 255, 1 -> 191.25 -> 191, -2 -> 0
    torch.testing.assert_close(pca(x), torch.tensor([[255.0, 191.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        pca(torch.zeros(2, 4))


def test_backbone_shapes_and_bad_input():
    bb = VGGishBackbone(**VGGISH_TINY)
    assert bb.out_dim == 32 and bb.sample_rate == 16000
    assert bb(torch.randn(2, 16000) * 0.1).shape == (2, 32)
    # 2.5 s -> two examples, averaged
    x = torch.randn(1, 40000) * 0.1
    ex = bb.frontend(x)
    assert ex.shape == (1, 2, 96, 64)
    torch.testing.assert_close(bb(x), bb.net(ex[0][:, None]).mean(0, keepdim=True))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        bb(torch.randn(16000))
    with pytest.raises(ValueError, match="example_shape"):
        VGGish(example_shape=(90, 64))


def test_frozen_by_default_and_stays_in_eval():
    bb = VGGishBackbone(**VGGISH_TINY)
    assert bb.frozen and not bb.training
    assert not any(p.requires_grad for p in bb.parameters())
    parent = torch.nn.Sequential(bb).train()
    assert parent.training and not bb.training and not bb.net.training


def test_finetune_step_changes_parameters():
    torch.manual_seed(0)
    bb = VGGishBackbone(frozen=False, **VGGISH_TINY).train()
    assert bb.training and all(p.requires_grad for p in bb.parameters())
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    opt = torch.optim.SGD(bb.parameters(), lr=0.1)
    out = bb(torch.randn(4, 16000) * 0.3)
    loss = (out - 1.0).pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in bb.parameters())
    opt.step()
    changed = [k for k, v in bb.state_dict().items() if not torch.equal(v, before[k])]
    assert "embeddings.4.weight" in {k.removeprefix("net.") for k in changed}
    assert "features.0.weight" in {k.removeprefix("net.") for k in changed}


def test_backbone_with_checkpoint_and_pca_dicts():
    net_state = VGGish(**VGGISH_TINY).state_dict()
    pca = {"pca_eigen_vectors": torch.eye(32) * 2, "pca_means": torch.ones(32, 1)}
    bb = VGGishBackbone(checkpoint=net_state, pca=pca, **VGGISH_TINY)
    x = torch.randn(2, 16000) * 0.1
    raw = bb.net(bb.frontend(x)[:, 0, None])
    torch.testing.assert_close(bb(x), (raw - 1) * 2)
