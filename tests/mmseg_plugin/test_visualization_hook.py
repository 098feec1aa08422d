"""AVSVisualizationHook: draws resized AVS label maps over the original frames, one drawing per clip and frame."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer
from PIL import Image

from mmseg_plugin.hooks import AVSVisualizationHook
from mmseg_plugin.hooks.visualization_hook import sample_at_frame_size

pytestmark = pytest.mark.mmseg

META = dict(classes=("background", "dog", "piano"), palette=[[0, 0, 0], [200, 0, 0], [0, 0, 200]])


def _sample(img_path, clip, index, pred, gt=None):
    s = SegDataSample(metainfo=dict(img_path=img_path, clip_id=clip, frame_index=index))
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred).long()[None])
    if gt is not None:
        s.gt_sem_seg = PixelData(data=torch.as_tensor(gt).long()[None])
    return s


def test_sample_at_frame_size_is_nearest_and_keeps_indices():
    gt = torch.tensor([[0, 1], [2, 255]])
    s = _sample("f.jpg", "c", 3, gt.clamp(max=2), gt)
    out = sample_at_frame_size(s, (4, 6))
    expect = gt.repeat_interleave(2, 0).repeat_interleave(3, 1)
    assert torch.equal(out.gt_sem_seg.data[0], expect) and out.gt_sem_seg.data.dtype == torch.long
    assert torch.equal(out.pred_sem_seg.data[0], expect.clamp(max=2))
    assert out.metainfo["clip_id"] == "c" and out.metainfo["frame_index"] == 3
    assert "gt_sem_seg" not in sample_at_frame_size(_sample("f.jpg", "c", 3, gt.clamp(max=2)), (4, 6))


def _frames(tmp_path, size=(12, 16)):
    paths = []
    for clip in ("clipA", "clipB"):
        os.makedirs(tmp_path / clip, exist_ok=True)
        p = str(tmp_path / clip / "0.jpg")
        Image.fromarray(np.full(size + (3,), 128, np.uint8)).save(p)
        paths.append(p)
    return paths


def _visualizer(tmp_path, name):
    vis = SegLocalVisualizer.get_instance(
        name, vis_backends=[dict(type="LocalVisBackend")], save_dir=str(tmp_path / name)
    )
    vis.dataset_meta = META
    return vis


def test_hook_draws_every_frame_at_frame_size_with_unique_names(tmp_path):
    a, b = _frames(tmp_path)
    _visualizer(tmp_path, "avs_vis_ok")
    hook = AVSVisualizationHook(draw=True, interval=1)
    gt = torch.zeros(6, 8, dtype=torch.long)
    gt[:3, :4] = 1
    outputs = [_sample(a, "clipA", 0, gt, gt), _sample(b, "clipB", 0, torch.full((6, 8), 2))]  # clipB: unlabelled
    hook.after_test_iter(SimpleNamespace(iter=0), 0, None, outputs)
    folder = tmp_path / "avs_vis_ok" / "vis_data" / "vis_image"
    drawn_a = np.asarray(Image.open(folder / "test_clipA_0_0.png").convert("RGB"))
    drawn_b = np.asarray(Image.open(folder / "test_clipB_0_0.png").convert("RGB"))
    assert drawn_a.shape == (12, 32, 3)  # ground truth | prediction, each at the frame's 12 x 16
    assert drawn_b.shape == (12, 16, 3)  # prediction only
    # class 1 (red) covers the top-left quarter of the ground truth; class 2 (blue) all of clipB's prediction
    assert drawn_a[1, 1, 0] > drawn_a[1, 1, 2] and drawn_a[10, 14, 0] == drawn_a[10, 14, 2]
    assert drawn_b[6, 8, 2] > drawn_b[6, 8, 0]


def test_stock_hook_cannot_draw_resized_ground_truth(tmp_path):
    """Why the plugin has its own hook (mmseg 1.2.2): the stock one indexes the frame with the smaller map."""
    a, _ = _frames(tmp_path)
    _visualizer(tmp_path, "avs_vis_stock")
    gt = torch.zeros(6, 8, dtype=torch.long)
    with pytest.raises(IndexError):
        SegVisualizationHook(draw=True, interval=1).after_test_iter(
            SimpleNamespace(iter=0), 0, None, [_sample(a, "clipA", 0, gt, gt)]
        )


def test_unreadable_frame_is_named(tmp_path):
    _visualizer(tmp_path, "avs_vis_err")
    missing = str(tmp_path / "nope" / "0.jpg")
    with pytest.raises(RuntimeError, match=r"cannot read frame .*nope/0.jpg"):
        AVSVisualizationHook(draw=True, interval=1).after_test_iter(
            SimpleNamespace(iter=0), 0, None, [_sample(missing, "c", 0, torch.zeros(2, 2))]
        )


def test_test_tool_show_dir_turns_the_hook_on(tool):
    from mmengine.config import Config

    test = tool("test")
    cfg = Config.fromfile(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "ddeseg_synthetic.py"))
    assert cfg.default_hooks.visualization.draw is False
    test.enable_drawing(cfg, "/tmp/show", 3)
    vis = cfg.default_hooks.visualization
    assert (vis.type, vis.draw, vis.interval) == ("AVSVisualizationHook", True, 3)
    assert cfg.visualizer.save_dir == "/tmp/show"
    with pytest.raises(ValueError, match="--show-interval must be >= 1"):
        test.enable_drawing(cfg, "/tmp/show", 0)
    cfg.default_hooks.pop("visualization")
    with pytest.raises(ValueError, match="must be an AVSVisualizationHook"):
        test.enable_drawing(cfg, "/tmp/show", 1)
