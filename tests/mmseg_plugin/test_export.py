"""tools/export.py and mmseg_plugin.apis.export: torch.export and ONNX (onnxruntime) outputs equal eager PyTorch."""

import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

pytestmark = pytest.mark.mmseg


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_synthetic_config):
    """The tiny synthetic config and a randomly initialised DDESeg checkpoint (random semantic memory)."""
    from mmseg.registry import MODELS

    import mmseg_plugin.registry  # noqa: F401
    from ddeseg_layers.memory import SemanticMemory
    from mmseg_plugin.apis.scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    tmp = tmp_path_factory.mktemp("export")
    cfg_path = tiny_synthetic_config(tmp, train=2, test=1)
    cfg = Config.fromfile(cfg_path)
    torch.manual_seed(0)
    model_cfg = cfg.model.to_dict()
    model_cfg["semantic_memory_path"] = None
    model_cfg["require_memory"] = False
    model = MODELS.build(model_cfg)
    c, d = model.net.memory.num_classes, model.net.audio_dim
    model.net.set_memory(
        SemanticMemory.build(torch.randn(6 * c, d), torch.arange(6 * c) % c, num_clusters=2, num_reps=2, num_classes=c)
    )
    ckpt = str(tmp / "model.pth")
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return dict(cfg=cfg_path, ckpt=ckpt, model=model.eval(), tmp=tmp)


def test_export_tool_outputs_equal_eager(tiny, tool, capsys):
    out = str(tiny["tmp"] / "exported")
    report = tool("export").main([tiny["cfg"], tiny["ckpt"], "--out", out, "--batch-size", "2"])
    assert report["max_abs_diff"]["torch_export"] <= 1e-4 and report["max_abs_diff"]["onnx"] <= 1e-4
    assert report["inputs"]["image"]["shape"] == [2, 3, 64, 64] and report["inputs"]["audio"]["shape"] == [2, 16000]
    assert report["outputs"]["logits"]["shape"] == [2, 7, 64, 64]
    with open(os.path.join(out, "export.json")) as f:
        assert json.load(f)["max_abs_diff"] == report["max_abs_diff"]
    printed = capsys.readouterr().out
    assert "max |onnx - eager|" in printed and "mmengine - INFO" not in printed
    # the saved files, on inputs they were not exported with, against the eager network of the checkpoint
    import onnxruntime as ort

    from mmseg_plugin.apis.export import ExportableDDESeg

    module = ExportableDDESeg.from_segmentor(tiny["model"])
    g = torch.Generator().manual_seed(1)
    image, audio = torch.rand(2, 3, 64, 64, generator=g) * 255, 0.1 * torch.randn(2, 16000, generator=g)
    with torch.no_grad():
        eager = module(image, audio)
        loaded = torch.export.load(os.path.join(out, "ddeseg.pt2")).module()(image, audio)
    assert (loaded - eager).abs().max() <= 1e-4
    sess = ort.InferenceSession(os.path.join(out, "ddeseg.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image", "audio"]
    got = sess.run(None, dict(image=image.numpy(), audio=audio.numpy()))[0]
    assert np.abs(got - eager.numpy()).max() <= 1e-4


def test_exportable_network_is_the_segmentors_forward(tiny):
    """RGB 0-255 in: the wrapper applies the data preprocessor's normalisation (mmcv frames are BGR)."""
    from mmseg_plugin.apis.export import ExportableDDESeg

    seg = tiny["model"]
    module = ExportableDDESeg.from_segmentor(seg)
    g = torch.Generator().manual_seed(2)
    bgr = (torch.rand(3, 64, 64, generator=g) * 255).round().to(torch.uint8)
    audio = 0.1 * torch.randn(16000, generator=g)
    data = seg.data_preprocessor(dict(inputs=[dict(img=bgr, audio=audio)], data_samples=None))
    with torch.no_grad():
        ref = seg.net(data["inputs"]["img"], data["inputs"]["audio"])
        got = module(bgr.flip(0)[None].float(), audio[None])
    assert (got - ref).abs().max() <= 1e-5
