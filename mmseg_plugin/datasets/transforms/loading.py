"""Loading transforms: ``LoadAVSImageFromFile`` (the frame), ``LoadAVSAnnotations`` (label maps) and
``LoadAudioWindow`` (the frame's audio window).

No paper equation. Every failure of these transforms (missing, truncated or corrupt frame / label / audio file, unknown
label colour, ...) keeps its exception type and is re-raised with the transform, the dataset index
(``results['sample_idx']``, set by mmengine's ``BaseDataset.get_data_info``), the clip and the frame in front of the
original message, which names the file; a DataLoader worker re-raises it in the main process with that text.

Shapes: ``gt_seg_map`` ``[H, W]`` uint8 (class index, 0 = background; 0/1 for binary tasks;
255 = ignore). It stays uint8 inside the pipeline because mmcv's Resize (cv2) cannot resize int64 maps;
``PackAVSInputs`` casts it to int64. ``audio``: float32 ``[T]`` (mono) or ``[C, T]`` (stereo / keep) at
``sample_rate``; for S4/MS3 ``.pkl`` caches, the frame's VGGish log-mel example ``[1, 96, 64]``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict, NoReturn, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmseg.registry import TRANSFORMS

from ...audio_io import CHANNEL_MODES, PAD_MODES, AudioReadError, ClipCache, load_tensor_file, load_window
from ..palette import IGNORE_INDEX, LABEL_FORMATS, LabelDecodeError, decode_label_file, voc_palette
from ..vpo import vpo_id_to_index

__all__ = ["LoadAVSImageFromFile", "LoadAVSAnnotations", "LoadAudioWindow", "item_context", "image_file_truncation"]

_TAIL_BYTES = 1024


def item_context(results: dict) -> str:
    """``"dataset item 17 (clip 'vidA', frame 3)"`` for the data_info ``results`` (what is known of it)."""
    idx = results.get("sample_idx")
    head = f"dataset item {idx}" if idx is not None else "dataset item (index unknown)"
    details = []
    if results.get("clip_id") is not None:
        details.append(f"clip {results['clip_id']!r}")
    if results.get("frame_index") is not None:
        details.append(f"frame {results['frame_index']}")
    return head + (f" ({', '.join(details)})" if details else "")


def _reraise_with_item(exc: Exception, who: str, results: dict) -> NoReturn:
    """Re-raise ``exc`` as the same type with ``"<who>: <item context>: "`` in front of its message.

    Exception types whose constructor does not take one message fall back to RuntimeError; the original is chained.
    """
    msg = f"{who}: {item_context(results)}: {exc}"
    try:
        new = type(exc)(msg)
    except Exception:
        new = RuntimeError(msg)
    raise new from exc


def image_file_truncation(path: str) -> Optional[str]:
    """Why ``path`` looks truncated, or None: a JPEG without its end-of-image marker or a PNG without its IEND chunk.

    Reads only the file's last KiB (the marker cannot occur inside JPEG entropy-coded data, where 0xFF is
    byte-stuffed), so a cut-off file is named as such before any decoder runs: the OpenCV 5.1 of this stack returns
    no image for it (mmcv then asserts "failed to load image"), while older OpenCV builds and PIL with
    ``LOAD_TRUNCATED_IMAGES`` decode it with the missing rows filled in. Other formats are not checked (None).
    """
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - _TAIL_BYTES))
        tail = f.read()
    if head[:2] == b"\xff\xd8":
        if b"\xff\xd9" not in tail:
            return f"JPEG file {path} is truncated (no end-of-image marker in its last {len(tail)} bytes, {size} bytes)"
    elif head == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in tail:
            return f"PNG file {path} is truncated (no IEND chunk, {size} bytes)"
    return None


@TRANSFORMS.register_module()
class LoadAVSImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (same decoder, arguments and outputs: ``img`` ``[H, W, 3]`` uint8 BGR,
    ``img_shape``, ``ori_shape``) that refuses truncated JPEG/PNG files and names the file and the dataset item in
    every failure (mmcv raises a bare ``FileNotFoundError`` for a missing file and an ``AssertionError`` for an
    undecodable one).

    Args:
        check_complete: refuse JPEG files without an end-of-image marker and PNG files without an IEND chunk
            (see :func:`image_file_truncation`; reads the file's last KiB).
        **kwargs: ``LoadImageFromFile``'s (to_float32, color_type, imdecode_backend, backend_args, ignore_empty).
    """

    def __init__(self, check_complete: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.check_complete = bool(check_complete)

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get("img_path")
        try:
            if path is None:
                raise KeyError("results lack 'img_path'")
            if self.check_complete and os.path.isfile(path):
                why = image_file_truncation(path)
                if why is not None:
                    if self.ignore_empty:
                        return None
                    raise OSError(why)
            return super().transform(results)
        except AssertionError as exc:  # mmcv: `assert img is not None, f'failed to load image: {filename}'`
            _reraise_with_item(OSError(f"{exc} (not a decodable image)"), type(self).__name__, results)
        except Exception as exc:
            _reraise_with_item(exc, type(self).__name__, results)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", check_complete={self.check_complete})"


@TRANSFORMS.register_module()
class LoadAVSAnnotations(BaseTransform):
    """Decode ``results['seg_map_path']`` according to ``results['label_format']`` into ``gt_seg_map``.

    Formats: "index" (index PNG, mode 'P' or 'L'), "rgb_voc" (VOC-palette colour mask; unknown colour -> error
    naming file and colour), "binary" (non-zero -> 1), "coco_vpo" (raw COCO ids -> VPO class indices; unknown id ->
    error naming file and id). Unlabelled frames (``seg_map_path is None``) get an all-255 (ignore) map of the image
    size, so they contribute nothing to losses or metrics. The decoded map must have the image's size.

    Args:
        num_classes: class count for index validation / palette size; default ``results['num_classes']``.
        coco_id_to_index: COCO id -> class index for "coco_vpo" (default: VPO's 21 classes + background).
        check_size: require the mask and the loaded image to have the same height and width.
    """

    def __init__(
        self,
        num_classes: Optional[int] = None,
        coco_id_to_index: Optional[Dict[int, int]] = None,
        check_size: bool = True,
    ) -> None:
        self.num_classes = num_classes
        self.coco_id_to_index = (
            {int(k): int(v) for k, v in coco_id_to_index.items()} if coco_id_to_index else vpo_id_to_index()
        )
        self.check_size = check_size
        self._palettes: Dict[int, np.ndarray] = {}

    def transform(self, results: dict) -> dict:
        try:
            return self._load(results)
        except Exception as exc:
            _reraise_with_item(exc, type(self).__name__, results)

    def _load(self, results: dict) -> dict:
        path = results.get("seg_map_path")
        fmt = results.get("label_format")
        if fmt not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {fmt!r}")
        n = self.num_classes if self.num_classes is not None else results.get("num_classes")
        if n is None and fmt in ("index", "rgb_voc"):
            raise ValueError(f"num_classes unknown for {path} (set it or put it in data_info)")
        img_hw = tuple(results["img_shape"][:2]) if "img_shape" in results else None
        if path is None:
            if img_hw is None:
                raise ValueError(f"unlabelled frame of {results.get('img_path')} needs the image loaded first")
            gt = np.full(img_hw, IGNORE_INDEX, dtype=np.uint8)
        else:
            palette = None
            if fmt == "rgb_voc":
                palette = self._palettes.setdefault(int(n), voc_palette(int(n)))
            gt = decode_label_file(
                path, fmt, num_classes=int(n) if n else 2, palette=palette, id_to_index=self.coco_id_to_index
            )
            if self.check_size and img_hw is not None and gt.shape != img_hw:
                raise LabelDecodeError(
                    f"{path}: mask size {gt.shape} differs from image {results.get('img_path')} size {img_hw}"
                )
            label_map = results.get("label_map")
            if label_map:
                mapped = gt.copy()
                for old, new in label_map.items():
                    mapped[gt == old] = new
                gt = mapped
        results["gt_seg_map"] = gt
        results.setdefault("seg_fields", [])
        if "gt_seg_map" not in results["seg_fields"]:
            results["seg_fields"].append("gt_seg_map")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, check_size={self.check_size})"


@TRANSFORMS.register_module()
class LoadAudioWindow(BaseTransform):
    """Load the frame's audio window ``[audio_start, audio_end)`` as ``results['audio']``.

    Reads WAV with soundfile, mixes/keeps channels, resamples to ``sample_rate`` with torchaudio (whole clip, then
    cut, so window boundaries are sample-exact at the target rate), pads past the clip end with ``pad_mode``, and
    records the rule in ``results['audio_window']``. ``audio_start=None`` (VPO) means the centred ``window_seconds``
    crop. A list ``audio_path`` (VPO-MS) sums the sources; with ``channels="stereo"`` and ``results['audio_pan']``
    each (mono-mixed) source is panned L = w * (1 - pan), R = w * pan before summing (CAVP's rule).
    ``audio_format="log_mel_pkl"`` items return row ``frame_index`` of the cached log-mel tensor instead.

    Decoded clips are cached per worker (``cache_clips`` most recent clips), so the 10 frames of a clip decode its
    WAV once.

    Args:
        sample_rate: target rate in Hz (16000 for VGGish, 32000 for HTSAT, 22050 for the official DDESeg setting).
        channels: "mono" (channel mean) | "stereo" (2 channels) | "keep".
        pad_mode: "zero" | "repeat_last_second" | "tile" (see mmseg_plugin.audio_io).
        window_seconds: override the window length (window = [audio_start, audio_start + window_seconds)); items
            with ``audio_start=None`` use it, or else their own ``audio_window_seconds`` (VPO: 3 s).
        cache_clips: number of decoded clips kept per worker (0 disables the cache).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        channels: str = "mono",
        pad_mode: str = "zero",
        window_seconds: Optional[float] = None,
        cache_clips: int = 8,
    ) -> None:
        if channels not in CHANNEL_MODES:
            raise ValueError(f"LoadAudioWindow: channels must be one of {CHANNEL_MODES}, got {channels!r}")
        if pad_mode not in PAD_MODES:
            raise ValueError(f"LoadAudioWindow: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if int(sample_rate) <= 0:
            raise ValueError(f"LoadAudioWindow: sample_rate must be > 0, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.channels = channels
        self.pad_mode = pad_mode
        self.window_seconds = None if window_seconds is None else float(window_seconds)
        self.cache = ClipCache(cache_clips)
        self._tensor_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _log_mel(self, results: dict) -> dict:
        path = results["audio_path"]
        if path not in self._tensor_cache:
            self._tensor_cache[path] = load_tensor_file(path)
            while len(self._tensor_cache) > max(1, self.cache.max_clips):
                self._tensor_cache.popitem(last=False)
        cached = self._tensor_cache[path]
        i = int(results.get("frame_index", 0))
        if cached.dim() < 1 or i >= cached.shape[0]:
            raise AudioReadError(f"{path}: log-mel cache of shape {tuple(cached.shape)} has no row {i}")
        results["audio"] = cached[i].numpy().astype(np.float32, copy=True)
        results["audio_window"] = dict(format="log_mel_pkl", row=i, cache_shape=tuple(cached.shape))
        results["audio_sample_rate"] = None
        return results

    def transform(self, results: dict) -> dict:
        try:
            return self._load(results)
        except Exception as exc:
            _reraise_with_item(exc, type(self).__name__, results)

    def _load(self, results: dict) -> dict:
        if results.get("audio_format", "wav") == "log_mel_pkl":
            return self._log_mel(results)
        paths = results["audio_path"]
        paths = list(paths) if isinstance(paths, (list, tuple)) else [paths]
        pans = results.get("audio_pan")
        if pans is not None and len(pans) != len(paths):
            raise ValueError(f"audio_pan has {len(pans)} entries for {len(paths)} audio files: {paths}")
        start, end = results.get("audio_start"), results.get("audio_end")
        use_pan = self.channels == "stereo" and pans is not None
        total, info = None, None
        for k, p in enumerate(paths):
            win, info = load_window(
                p,
                start,
                end,
                sample_rate=self.sample_rate,
                channels="mono" if use_pan else self.channels,
                pad_mode=self.pad_mode,
                window_seconds=self.window_seconds
                if self.window_seconds is not None
                else results.get("audio_window_seconds"),
                cache=self.cache,
            )
            if use_pan:
                pan = float(pans[k])
                win = np.concatenate([win * (1.0 - pan), win * pan], axis=0)
            if total is not None and total.shape != win.shape:
                raise AudioReadError(f"{p}: window shape {tuple(win.shape)} differs from other sources' {total.shape}")
            total = win if total is None else total + win
        info = dict(info, num_sources=len(paths), panned=use_pan)
        out = total[0] if self.channels == "mono" else total
        results["audio"] = np.ascontiguousarray(out, dtype=np.float32)
        results["audio_window"] = info
        results["audio_sample_rate"] = self.sample_rate
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sample_rate={self.sample_rate}, channels={self.channels!r}, "
            f"pad_mode={self.pad_mode!r}, window_seconds={self.window_seconds}, cache_clips={self.cache.max_clips})"
        )
