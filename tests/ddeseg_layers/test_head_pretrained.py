"""``pretrained.head``: the decode head of a SegFormer-format segmentor checkpoint loads into DDESeg's head."""

import pytest
import torch

from ddeseg_layers.checkpoint import CheckpointMismatchError
from ddeseg_layers.converters import load_head_pretrained
from ddeseg_layers.head import SegFormerHead
from ddeseg_layers.model import build_ddeseg

from ._network_utils import tiny_cfg


def _segmentor_file(tmp_path, head: SegFormerHead, extra=None):
    sd = {"backbone.patch_embed1.proj.weight": torch.zeros(1)}
    sd.update({"decode_head." + k: v.clone() for k, v in head.state_dict().items()})
    sd.update(extra or {})
    path = tmp_path / "segmentor.pth"
    torch.save({"state_dict": sd}, path)
    return path


def _trained_like(head: SegFormerHead) -> SegFormerHead:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return head


def test_loads_bit_exactly_and_computes_the_same_logits(tmp_path):
    src = _trained_like(SegFormerHead([16, 16, 32, 32], 4, embed_dim=32)).eval()
    path = _segmentor_file(tmp_path, src)
    dst = SegFormerHead([16, 16, 32, 32], 4, embed_dim=32, fused=True).eval()
    report = load_head_pretrained(dst, path)
    assert report.ignored == ["backbone.patch_embed1.proj.weight"]
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v, rtol=0, atol=0)
    # the fused head computes the literal one's function (float64: only rounding differs)
    feats = [torch.randn(2, c, s, s, dtype=torch.float64) for c, s in zip([16, 16, 32, 32], [16, 8, 4, 2])]
    torch.testing.assert_close(dst.double()(feats), src.double()(feats), rtol=1e-10, atol=1e-10)


def test_ddeseg_config_loads_the_head(tmp_path):
    torch.manual_seed(0)
    donor = build_ddeseg(tiny_cfg())
    _trained_like(donor.head)
    path = _segmentor_file(tmp_path, donor.head)
    model = build_ddeseg(tiny_cfg(pretrained=dict(head=str(path))))
    for k, v in donor.head.state_dict().items():
        torch.testing.assert_close(model.head.state_dict()[k], v, rtol=0, atol=0)


def test_another_class_count_is_refused_naming_the_key(tmp_path):
    path = _segmentor_file(tmp_path, SegFormerHead([16, 16, 32, 32], 7, embed_dim=32))
    with pytest.raises(CheckpointMismatchError, match="linear_pred"):
        load_head_pretrained(SegFormerHead([16, 16, 32, 32], 4, embed_dim=32), path)


def test_a_checkpoint_without_a_decode_head_is_refused(tmp_path):
    path = tmp_path / "encoder_only.pth"
    torch.save({"state_dict": {"backbone.x": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="encoder_only.pth has no 'decode_head"):
        load_head_pretrained(SegFormerHead([16, 16, 32, 32], 4, embed_dim=32), path)


def test_unknown_pretrained_key_still_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        build_ddeseg(tiny_cfg(pretrained=dict(heads="x")))
