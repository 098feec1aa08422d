"""Draw AVS predictions over the original frames (what ``mim test ... --show-dir`` turns on).

No paper equation. mmseg's ``SegVisualizationHook`` draws ``gt_sem_seg`` / ``pred_sem_seg`` over the image read from
``img_path`` and assumes both have the image's size. The AVS test pipelines resize the ground truth with the image
(AVSBench scores at 224 x 224; ``AVSSegmentor`` predicts at the ground truth's size), so with the stock hook
``SegLocalVisualizer`` fails on the first frame (IndexError: boolean index did not match). It also names each drawing
after the file's basename and the runner's iteration, so in a test run frame ``0.jpg`` of every clip overwrites the
previous clip's.

``AVSVisualizationHook`` (a drop-in for ``SegVisualizationHook``, same arguments) resizes the two maps to the frame
(nearest neighbour: class indices stay class indices; ``[1, h, w]`` -> ``[1, H, W]``) on a copy of the data sample
and names each drawing ``<mode>_<clip_id>_<frame_index>`` (the basename when a sample has no clip id). A frame
without ground truth (``has_label=False``) is drawn with its prediction only.
"""

from __future__ import annotations

import os.path as osp
from typing import Any, Sequence

import mmcv
import torch.nn.functional as F
from mmengine import fileio
from mmengine.structures import PixelData
from mmseg.engine.hooks import SegVisualizationHook
from mmseg.registry import HOOKS
from mmseg.structures import SegDataSample

__all__ = ["AVSVisualizationHook", "sample_at_frame_size"]

_MAPS = ("gt_sem_seg", "pred_sem_seg")


def sample_at_frame_size(sample: SegDataSample, size: Sequence[int]) -> SegDataSample:
    """A copy of ``sample`` holding only its label maps, resized (nearest) to ``size`` = (H, W) of the frame."""
    out = SegDataSample(metainfo=dict(sample.metainfo))
    h, w = int(size[0]), int(size[1])
    for key in _MAPS:
        if key not in sample:
            continue
        data = getattr(sample, key).data
        if data.dim() == 2:
            data = data[None]
        if tuple(data.shape[-2:]) != (h, w):
            data = F.interpolate(data[None].float(), size=(h, w), mode="nearest")[0].to(data.dtype)
        setattr(out, key, PixelData(data=data))
    return out


def _drawing_name(mode: str, sample: SegDataSample) -> str:
    clip, index = sample.metainfo.get("clip_id"), sample.metainfo.get("frame_index")
    if clip is None or index is None:
        return f"{mode}_{osp.basename(sample.img_path)}"
    # LocalVisBackend writes <name>_<step>.png into one folder: no separators in the name
    return f"{mode}_{str(clip).replace('/', '_')}_{int(index)}"


@HOOKS.register_module()
class AVSVisualizationHook(SegVisualizationHook):
    """``SegVisualizationHook`` for AVS: draws at the frame's size, one uniquely named drawing per frame.

    Args: as ``SegVisualizationHook`` (``draw``, ``interval`` in batches, ``show``, ``wait_time``, ``backend_args``).
    """

    def _after_iter(
        self, runner: Any, batch_idx: int, data_batch: Any, outputs: Sequence[SegDataSample], mode: str = "val"
    ) -> None:
        if self.draw is False or mode == "train":
            return
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for output in outputs:
            img_path = output.img_path
            try:
                img = mmcv.imfrombytes(fileio.get(img_path, backend_args=self.backend_args), channel_order="rgb")
            except Exception as exc:
                raise RuntimeError(f"AVSVisualizationHook: cannot read frame {img_path}: {exc}") from exc
            if img is None:
                raise RuntimeError(f"AVSVisualizationHook: cannot decode frame {img_path}")
            sample = sample_at_frame_size(output, img.shape[:2])
            self._visualizer.add_datasample(
                _drawing_name(mode, output),
                img,
                data_sample=sample,
                show=self.show,
                wait_time=self.wait_time,
                step=runner.iter,
            )
