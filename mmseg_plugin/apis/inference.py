"""Run a trained DDESeg checkpoint on a folder of frames and one audio file (no dataset layout needed).

No paper equation. The frames of one clip (any image files in a folder, ordered naturally: ``2.jpg`` before
``10.jpg``) are paired with one audio file the way AVSBench pairs them: frame k (0-based) hears the window
``[audio_start + k * seconds_per_frame, audio_start + (k + 1) * seconds_per_frame)`` (1 s per frame in AVSBench and
the synthetic set). Each frame goes through the config's ``test_pipeline`` without ``LoadAVSAnnotations`` (so the
same resizing and audio front end as in evaluation) and the model's ``test_step``; predictions come back at the
frame's own size (``ori_shape``).

Shapes: ``predict_clip`` returns one ``SegDataSample`` per frame with ``pred_sem_seg`` ``[1, H, W]`` (class indices;
0/1 for binary tasks) and ``seg_logits`` (``[C, H, W]`` logits, or ``[1, H, W]`` foreground probabilities for binary
tasks), in frame order. The model runs in eval mode and no operation mixes the frames of a batch, so the batch size
does not change what is computed for a frame; it can change the floating-point result in its last bits (BLAS
kernels block and vectorise differently for other batch shapes, and differently on Intel and AMD CPUs), which can
flip the class of a pixel whose top two scores are tied to within rounding. docs/reproducibility.md states what is
bit-reproducible and on which axis.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence

import soundfile as sf
import torch

__all__ = ["IMAGE_EXTENSIONS", "clip_frame_items", "default_clip_id", "init_model", "natural_key", "predict_clip"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def natural_key(name: str) -> List[Any]:
    """Sort key that orders digit runs by value: ``frame_2.jpg`` < ``frame_10.jpg``."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", name) if p]


GENERIC_FRAME_FOLDERS = ("frames", "visual_frames", "images", "imgs", "jpg", "jpegimages")


def default_clip_id(frames_dir: str) -> str:
    """The folder's name, or its parent's when the folder has a generic name (``<clip>/frames`` as in AVSS)."""
    path = osp.normpath(osp.abspath(frames_dir))
    name = osp.basename(path)
    return osp.basename(osp.dirname(path)) if name.lower() in GENERIC_FRAME_FOLDERS else name


def clip_frame_items(
    frames_dir: str,
    audio_path: str,
    seconds_per_frame: float = 1.0,
    audio_start: float = 0.0,
    clip_id: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """The data items of one clip, as the datasets build them (``has_label=False``, no mask).

    Raises:
        FileNotFoundError: the folder or the audio file does not exist, or the folder holds no image.
        ValueError: the audio cannot be read, or it ends before the last frame's window starts (the window would be
            all padding); both messages name the file.
    """
    if seconds_per_frame <= 0:
        raise ValueError(f"seconds_per_frame must be > 0, got {seconds_per_frame}")
    if audio_start < 0:
        raise ValueError(f"audio_start must be >= 0, got {audio_start}")
    if not osp.isdir(frames_dir):
        raise FileNotFoundError(f"frames folder not found: {frames_dir}")
    names = sorted((n for n in os.listdir(frames_dir) if n.lower().endswith(IMAGE_EXTENSIONS)), key=natural_key)
    if not names:
        raise FileNotFoundError(f"{frames_dir}: no frames (files ending in {', '.join(IMAGE_EXTENSIONS)})")
    if not osp.isfile(audio_path):
        raise FileNotFoundError(f"audio file not found: {audio_path}")
    try:
        info = sf.info(audio_path)
    except Exception as exc:
        raise ValueError(f"{audio_path}: cannot read audio: {exc}") from exc
    duration = info.frames / float(info.samplerate)
    last_start = audio_start + (len(names) - 1) * seconds_per_frame
    if last_start >= duration:
        raise ValueError(
            f"{audio_path}: {duration:.3f} s of audio, but frame {len(names) - 1} ({names[-1]}) of {frames_dir} would "
            f"start hearing at {last_start:.3f} s ({len(names)} frames, {seconds_per_frame} s per frame from "
            f"{audio_start} s): pass another seconds_per_frame / audio_start, or fewer frames"
        )
    clip = clip_id or default_clip_id(frames_dir)
    return [
        dict(
            img_path=osp.join(frames_dir, name),
            seg_map_path=None,
            audio_path=audio_path,
            audio_start=audio_start + k * seconds_per_frame,
            audio_end=audio_start + (k + 1) * seconds_per_frame,
            label_format="index",
            clip_id=clip,
            frame_index=k,
            has_label=False,
            seg_fields=[],
            reduce_zero_label=False,
        )
        for k, name in enumerate(names)
    ]


def init_model(cfg, checkpoint: str, device: str = "cpu"):
    """Build ``cfg.model``, load ``checkpoint`` strictly (weights, semantic memory and all) and return it in eval
    mode together with the checkpoint's ``dataset_meta`` (classes, palette; None when absent).

    The checkpoint carries the semantic memory and the audio encoder's weights, so the configured
    ``semantic_memory_path`` and pretrained audio checkpoint are not read (a memory file there may belong to another
    run). For a
    semantic task whose checkpoint names its classes, the class count comes from those names (AVSS-layout configs
    otherwise read it from the dataset's ``label2idx.json``).
    """
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
    from mmseg.registry import MODELS

    import mmseg_plugin.registry  # noqa: F401  (datasets, transforms, models, metrics, hooks)
    from mmseg_plugin.audio_rate import check_model_sample_rate
    from mmseg_plugin.hooks import trust_directory

    from .scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    trust_directory(osp.dirname(osp.abspath(checkpoint)))
    ckpt = _load_checkpoint(checkpoint, map_location="cpu")
    meta = (ckpt.get("meta") or {}).get("dataset_meta") if isinstance(ckpt, dict) else None
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg["semantic_memory_path"] = None  # the checkpoint's memory is the one the model was trained with
    if model_cfg.get("net", {}).get("audio", {}).get("checkpoint"):
        model_cfg["net"]["audio"]["checkpoint"] = None
    if meta and meta.get("classes") and model_cfg.get("task", "semantic") == "semantic":
        model_cfg["net"]["num_classes"] = len(meta["classes"])
        if model_cfg["net"].get("memory") is not None:
            model_cfg["net"]["memory"]["num_classes"] = len(meta["classes"])
    model = MODELS.build(model_cfg)
    check_model_sample_rate(cfg, model)  # the pipeline's LoadAudioWindow rate is the audio backbone's
    try:
        _load_checkpoint_to_model(model, ckpt, strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f"{checkpoint} does not fit the model of this config: {exc}") from exc
    return model.to(device).eval(), meta


def _test_pipeline(cfg):
    from mmengine.dataset import Compose

    from .scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    steps = [t for t in copy.deepcopy(cfg.test_pipeline) if t["type"] != "LoadAVSAnnotations"]
    return Compose(steps)


def predict_clip(model, cfg, items: Sequence[Dict[str, Any]], batch_size: int = 4) -> list:
    """Predictions for ``items`` (from :func:`clip_frame_items`), in order, at each frame's original size."""
    from mmengine.dataset import pseudo_collate

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pipeline = _test_pipeline(cfg)
    outputs: list = []
    with torch.no_grad():
        for i in range(0, len(items), batch_size):
            batch = [pipeline(dict(item)) for item in items[i : i + batch_size]]
            outputs.extend(model.test_step(pseudo_collate(batch)))
    return outputs
