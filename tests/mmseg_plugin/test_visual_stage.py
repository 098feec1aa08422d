"""Stage "visual" of the recipe (mmseg_plugin/visual_stage.py): settings, the pre-trained checkpoint, its load into
DDESeg's fusion encoder, and the pipeline's wiring (tools/run_pipeline.py)."""

import copy
import json
import os

import pytest
import torch
from mmengine.config import Config

from mmseg_plugin.visual_stage import VISUAL_DEFAULTS, pretrain_visual_encoder, visual_settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARD = os.path.join(REPO, "configs", "ddeseg_synthetic_hard.py")
TINY = dict(num_images=6, iters=3, image_size=64, batch_size=2, generator=dict(max_objects=2))


def _tiny_cfg(**vp):
    cfg = Config.fromfile(HARD)
    cfg.visual_pretrain = dict(TINY, **vp)
    return cfg


def test_settings_defaults_and_errors():
    assert visual_settings(Config.fromfile(os.path.join(REPO, "configs", "ddeseg_synthetic.py"))) is None
    vs = visual_settings(_tiny_cfg())
    assert vs["iters"] == 3 and vs["lr"] == VISUAL_DEFAULTS["lr"] and vs["generator"] == dict(max_objects=2)
    with pytest.raises(ValueError, match="unknown visual_pretrain keys"):
        visual_settings(_tiny_cfg(epochs=3))
    with pytest.raises(ValueError, match="iters must be >= 1"):
        visual_settings(_tiny_cfg(iters=0))


def test_pretrained_weights_load_into_the_ddeseg_encoder(tmp_path):
    from ddeseg_layers.checkpoint import load_checkpoint_file
    from ddeseg_layers.model import build_ddeseg

    cfg = _tiny_cfg()
    out = str(tmp_path / "visual_encoder.pth")
    torch.manual_seed(0)
    report = pretrain_visual_encoder(cfg, out)
    assert report["visual_iters"] == 3 and report["sprite_classes"][0] == "stripes"
    sd = load_checkpoint_file(out)
    assert any(k.startswith("decode_head.") for k in sd) and any(k.startswith("backbone.block1.") for k in sd)
    net = copy.deepcopy(Config.fromfile(HARD).model.net.to_dict())
    net["audio"].pop("checkpoint", None)
    net["pretrained"] = dict(encoder=out)
    model = build_ddeseg(net)
    enc = model.encoder.state_dict()
    backbone = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    assert backbone and set(backbone) <= set(enc)
    for k, v in backbone.items():
        torch.testing.assert_close(enc[k], v, rtol=0, atol=0)


def test_pretraining_learns_something(tmp_path):
    """A few dozen iterations on a small set lower the loss well below its start (ln 13 = 2.56)."""
    cfg = _tiny_cfg(num_images=24, iters=40, batch_size=4, lr=3e-3)
    torch.manual_seed(0)
    report = pretrain_visual_encoder(cfg, str(tmp_path / "v.pth"))
    assert report["visual_last_loss"] < 1.5


def test_pipeline_runs_the_stage_caches_it_and_hands_it_to_ddeseg(tmp_path, monkeypatch, tool):
    from mmseg_plugin.apis import pipeline

    leaf = tmp_path / "tiny_visual.py"
    head = 'model = dict(net=dict(pretrained=dict(head="elsewhere.pth")))'  # also load the stage's decode head
    leaf.write_text(f"_base_ = [{HARD!r}]\nvisual_pretrain = {TINY!r}\n{head}\n")
    from mmseg_plugin.synthetic.hard_visual import SPRITE_CLASSES

    classes = ["background", *SPRITE_CLASSES[:12]]  # the harder set's classes: the stage's head loads
    monkeypatch.setattr(pipeline, "stage_data", lambda cfg: dict(train=1, val=1, test=1, classes=classes))
    monkeypatch.setattr(pipeline, "apply_avss_classes", lambda cfg: None)
    main = tool("run_pipeline").main
    wd = tmp_path / "wd"
    summary = main([str(leaf), "--work-dir", str(wd), "--stop-after", "visual"])
    ckpt = wd / "visual_encoder.pth"
    assert ckpt.is_file() and summary["visual_stage"]["visual_iters"] == 3
    assert json.loads((wd / "visual_encoder.pth.json").read_text())["visual_encoder"] == str(ckpt)
    mtime = ckpt.stat().st_mtime_ns
    summary = main([str(leaf), "--work-dir", str(wd), "--stop-after", "visual"])  # cached: not retrained
    assert ckpt.stat().st_mtime_ns == mtime and summary["visual_stage"]["visual_iters"] == 3
    scfg = pipeline._seg_cfg(Config.fromfile(str(leaf)), str(wd), None, str(wd / "m.pth"), None, str(ckpt))
    assert scfg.model.net.pretrained.encoder == str(ckpt)
    assert scfg.model.net.pretrained.head == str(ckpt)  # the decode head comes from the same stage output
    # another dataset's classes: the head is refused with both lists named (the encoder alone would transfer)
    monkeypatch.setattr(pipeline, "stage_data", lambda cfg: dict(train=1, val=1, test=1, classes=["bg", "a", "b"]))
    with pytest.raises(ValueError, match=r"pretrained.head .* sprite classes \['stripes'.*are \['a', 'b'\]"):
        main([str(leaf), "--work-dir", str(wd), "--stop-after", "visual"])
    # a cached stage without its .json: the sprite classes come from the checkpoint's own record
    (wd / "visual_encoder.pth.json").unlink()
    with pytest.raises(ValueError, match=r"sprite classes \['stripes'.*are \['a', 'b'\]"):
        main([str(leaf), "--work-dir", str(wd), "--stop-after", "visual"])
    monkeypatch.setattr(pipeline, "stage_data", lambda cfg: dict(train=1, val=1, test=1, classes=classes))
    assert main([str(leaf), "--work-dir", str(wd), "--stop-after", "visual"])["data"]["classes"] == classes
