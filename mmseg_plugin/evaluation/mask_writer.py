"""Write the predicted masks of an evaluation run to disk (for figures, and for other groups' J / F scripts).

No paper equation. Registered as an mmengine metric so it runs inside ``runner.test()`` / ``runner.val()`` next to
``AVSMetric`` (``tools/test.py --save-masks DIR`` adds it), on every rank of a distributed run.

Layout, one PNG per evaluated frame (labelled or not)::

    <output_dir>/<clip_id>/<frame_index>.png     frame_index 0-based, as in the dataset items
    <output_dir>/masks.csv                        img_path, mask, clip_id, frame_index, has_label (one row per frame)

* semantic tasks (AVSS, VPO): palette PNGs (mode 'P'): the pixel values are class indices and the palette is the
  dataset's (AVSS: the VOC palette of ``labels_rgb``), so the files read back both as index masks and as colour
  masks (``read_index_png`` / ``read_rgb_png`` return the prediction exactly).
* binary tasks (S4, MS3): grey PNGs (mode 'L') with 0 / 255, as AVSBench's ground truth (``read_binary_png``).

Shapes: ``pred_sem_seg.data`` ``[1, H, W]`` or ``[H, W]`` class indices. The segmentor predicts at the resolution
the metric scores: the ground-truth mask after the test pipeline (so the configs' ``Resize`` applies, as AVSBench
evaluates at 224 x 224), or ``ori_shape`` for frames without a mask. ``resolution="eval"`` (default) writes exactly
that map, so another group's J / F script run on these files scores what ``AVSMetric`` scored; ``"original"``
resizes it to the frame's ``ori_shape`` with nearest-neighbour sampling (for overlays on the original frames). Each
frame needs ``clip_id`` and ``frame_index`` in its metainfo (every dataset of this plugin sets them); two different
frames mapping to one file is an error naming both.
"""

from __future__ import annotations

import csv
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS
from PIL import Image

from mmseg_plugin.datasets.palette import voc_palette

from .avs_metric import _TASKS, _field, _label_map

__all__ = ["AVSMaskWriter"]

MANIFEST = "masks.csv"


def _safe_part(value: Any, what: str, where: str) -> str:
    text = str(value)
    parts = text.replace("\\", "/").split("/")
    if not text or text.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"AVSMaskWriter: {where}: {what} {text!r} cannot name a file under the output folder")
    return "/".join(parts)


@METRICS.register_module()
class AVSMaskWriter(BaseMetric):
    """Save every predicted mask as a PNG and a manifest; reports ``masks/num_written``.

    Args:
        output_dir: folder to write into (created). Existing files of the same names are replaced.
        task: ``"binary"`` or ``"semantic"``; None reads ``dataset_meta["task"]``.
        palette: ``[C, 3]`` colours of the semantic PNGs; None uses ``dataset_meta["palette"]`` or else the VOC
            palette (256 entries, so any class index up to 254 can be written).
        resolution: ``"eval"`` (the scored map) or ``"original"`` (nearest-resized to ``ori_shape``).
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``.
    """

    default_prefix: Optional[str] = "masks"

    def __init__(
        self,
        output_dir: str,
        task: Optional[str] = None,
        palette: Optional[Sequence[Sequence[int]]] = None,
        resolution: str = "eval",
        collect_device: str = "cpu",
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not output_dir:
            raise ValueError("AVSMaskWriter: output_dir is required")
        if task is not None and task not in _TASKS:
            raise ValueError(f"AVSMaskWriter: task must be one of {_TASKS} or None, got {task!r}")
        if resolution not in ("eval", "original"):
            raise ValueError(f"AVSMaskWriter: resolution must be 'eval' or 'original', got {resolution!r}")
        self.resolution = resolution
        self.output_dir = osp.abspath(output_dir)
        self.task = task
        self.palette = None if palette is None else self._check_palette(palette, "palette argument")

    @staticmethod
    def _check_palette(palette: Any, source: str) -> np.ndarray:
        pal = np.asarray(palette)
        if pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= len(pal) <= 256 or pal.min() < 0 or pal.max() > 255:
            raise ValueError(f"AVSMaskWriter: {source} must be [C <= 256, 3] colours in 0..255, got shape {pal.shape}")
        return pal.astype(np.uint8)

    def _resolved_task(self) -> str:
        task = self.task or (self.dataset_meta or {}).get("task")
        if task not in _TASKS:
            raise ValueError(
                f"AVSMaskWriter: task is {task!r}: pass task='binary'|'semantic' or use a dataset whose metainfo "
                "has 'task'"
            )
        return task

    def _flat_palette(self) -> List[int]:
        pal = self.palette
        if pal is None:
            meta_pal = (self.dataset_meta or {}).get("palette")
            pal = voc_palette(256) if meta_pal is None else self._check_palette(meta_pal, "dataset_meta['palette']")
        flat = np.zeros((256, 3), dtype=np.uint8)
        flat[: len(pal)] = pal
        return flat.reshape(-1).tolist()

    def _image(self, pred: np.ndarray, task: str, palette: Optional[List[int]], where: str) -> Image.Image:
        if task == "binary":
            if pred.size and not np.isin(pred, (0, 1)).all():
                raise ValueError(f"AVSMaskWriter: {where}: a binary prediction holds values other than 0 and 1")
            return Image.fromarray((pred * 255).astype(np.uint8), mode="L")
        if pred.size and (pred.min() < 0 or pred.max() > 254):
            raise ValueError(
                f"AVSMaskWriter: {where}: class indices must lie in [0, 254] for a palette PNG, "
                f"got [{pred.min()}, {pred.max()}]"
            )
        img = Image.fromarray(pred.astype(np.uint8), mode="P")
        img.putpalette(palette)
        return img

    @staticmethod
    def _to_original(pred: np.ndarray, ori_shape: Any, where: str) -> np.ndarray:
        if ori_shape is None or len(ori_shape) < 2:
            raise ValueError(
                f"AVSMaskWriter: {where} has no ori_shape in its metainfo (needed by resolution='original')"
            )
        size = (int(ori_shape[0]), int(ori_shape[1]))
        if pred.shape == size:
            return pred
        resized = Image.fromarray(pred.astype(np.int32), mode="I").resize((size[1], size[0]), Image.NEAREST)
        return np.asarray(resized).astype(np.int64)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Write each frame's PNG now (on the rank that predicted it) and keep one manifest row."""
        task = self._resolved_task()
        palette = self._flat_palette() if task == "semantic" else None  # once per batch, not per frame
        for sample in data_samples:
            where = str(_field(sample, "img_path") or "<data sample without img_path>")
            clip, index = _field(sample, "clip_id"), _field(sample, "frame_index")
            if clip is None or index is None:
                raise ValueError(f"AVSMaskWriter: {where} has no clip_id / frame_index in its metainfo")
            rel = f"{_safe_part(clip, 'clip_id', where)}/{int(index)}.png"
            pred_field = _field(sample, "pred_sem_seg")
            if pred_field is None:
                raise ValueError(f"AVSMaskWriter: {where} has no pred_sem_seg (run the model in predict mode)")
            pred = _label_map(pred_field, "pred_sem_seg", where, "AVSMaskWriter").cpu().numpy()
            if pred.dtype.kind == "f":
                if not np.array_equal(pred, np.round(pred)):
                    raise ValueError(f"AVSMaskWriter: pred_sem_seg of {where} holds non-integer values")
            pred = pred.astype(np.int64)
            if self.resolution == "original":
                pred = self._to_original(pred, _field(sample, "ori_shape"), where)
            path = osp.join(self.output_dir, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            self._image(pred, task, palette, where).save(path)
            has_label = _field(sample, "has_label")
            self.results.append(
                dict(img_path=where, mask=rel, clip_id=str(clip), frame_index=int(index), has_label=has_label)
            )

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Check that no two frames shared a file, write ``masks.csv`` (sorted by clip, frame)."""
        owner: Dict[str, str] = {}
        for r in results:
            prev = owner.setdefault(r["mask"], r["img_path"])
            if prev != r["img_path"]:
                raise ValueError(
                    f"AVSMaskWriter: frames {prev} and {r['img_path']} both map to {r['mask']} (same clip_id and "
                    "frame_index): one prediction would overwrite the other"
                )
        rows = sorted({r["mask"]: r for r in results}.values(), key=lambda r: (r["clip_id"], r["frame_index"]))
        os.makedirs(self.output_dir, exist_ok=True)
        with open(osp.join(self.output_dir, MANIFEST), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["img_path", "mask", "clip_id", "frame_index", "has_label"])
            for r in rows:
                w.writerow([r["img_path"], r["mask"], r["clip_id"], r["frame_index"], r["has_label"]])
        return {"num_written": len(rows)}
