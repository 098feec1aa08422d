"""``DDESegInferencer``: any video in, masks out (in the style of MMSegmentation's ``MMSegInferencer``).

No paper equation. Built once from a config + checkpoint (or a trained work_dir), then called on

* a video file (mp4 / mkv / webm / mov / anything FFmpeg reads, with an audio track; PyAV, the ``[video]`` extra),
* a folder of frames + an audio file (the frames-folder path of ``tools/infer.py``: ``clip_frame_items``), or
* in-memory arrays: frames ``[T, H, W, 3]`` uint8 RGB (or a list of ``[H, W, 3]``) at ``fps`` + a waveform.

Sampling (the frames that are segmented), time 0 = the first frame / the first audio sample:

* ``sampling="rate"`` (default, ``rate=1.0``: AVSBench's 1 frame per second): sample k is taken at ``t_k = k / rate``
  for every ``t_k`` before the video's end (last frame time + one frame), and is the frame on screen at ``t_k`` (the
  last frame whose timestamp is <= ``t_k`` + 1 ms). It hears ``[t_k, t_k + W)``.
* ``sampling="every_frame"``: every decoded frame, at its timestamp ``t``, hears the centred window
  ``[t - W/2, t + W/2)`` shifted to lie inside the audio (start clamped to ``[0, D - W]``).

``W`` is the training window: the config's ``LoadAudioWindow.window_seconds``, else 1 s (AVSBench / AVSS). The audio
track is decoded whole, mixed / kept by the pipeline's channel rule and resampled to its ``sample_rate`` (torchaudio)
exactly as ``mmseg_plugin.audio_io.ClipCache`` does for WAV files, then cut with ``audio_io.cut_window``: samples
past the end of the sound are filled by the config's ``pad_mode`` (the training rule: zeros for the synthetic and
AVSS configs), which is also what happens to a video shorter than one window. A window that would start at or after
the end of the sound is an error naming the file. Frames then go through the config's ``test_pipeline`` (without
``LoadAVSAnnotations``) and the model's ``test_step``, exactly as in evaluation; masks come back at the frame's size.

Outputs under ``out_dir`` (each optional): ``masks/<clip_id>/<k>.png`` + ``masks/masks.csv`` (AVSMaskWriter, the
datasets' PNG formats), ``samples/<clip_id>.csv`` (per sample: time, video frame, audio window, padded samples),
``overlay/<clip_id>.mp4`` (every input frame with the latest sample's mask coloured and labelled, H.264 + the
original sound in AAC) and ``timeline/<clip_id>.{csv,json,png}`` (mmseg_plugin.apis.timeline).
"""

from __future__ import annotations

import copy
import csv
import glob
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["DDESegInferencer", "resolve_model", "sample_times_rate"]

SAMPLINGS = ("rate", "every_frame")
_EPS = 1e-3  # 1 ms: timestamps of real containers are rounded to their time base


def resolve_model(model: str, weights: Optional[str] = None) -> Tuple[str, str]:
    """``(config, checkpoint)`` from a config + checkpoint, or from a trained work_dir.

    A work_dir is a folder holding the run's dumped config (``*.py``) and checkpoints (``best_*.pth`` is preferred,
    as tools/run_pipeline.py selects on val; else the one named in ``last_checkpoint``); the main job's folder
    (``work_dirs/<config>``) is searched in its ``ddeseg/`` sub-folder.
    """
    if not osp.isdir(model):
        if weights is None:
            raise ValueError(f"DDESegInferencer: {model} is a config: pass its checkpoint as weights")
        if not osp.isfile(model):
            raise FileNotFoundError(f"config not found: {model}")
        return model, weights
    run = osp.join(model, "ddeseg") if osp.isdir(osp.join(model, "ddeseg")) else model
    configs = sorted(glob.glob(osp.join(run, "*.py")))
    if len(configs) != 1:
        raise FileNotFoundError(
            f"work_dir {run}: expected one dumped config (*.py), found {len(configs)}: "
            f"{[osp.basename(c) for c in configs]}"
        )
    if weights is None:
        best = sorted(glob.glob(osp.join(run, "best_*.pth")), key=osp.getmtime)
        if best:
            weights = best[-1]
        elif osp.isfile(osp.join(run, "last_checkpoint")):
            with open(osp.join(run, "last_checkpoint")) as f:
                weights = f.read().strip()
        else:
            raise FileNotFoundError(f"work_dir {run}: no best_*.pth and no last_checkpoint: is training finished?")
    return configs[0], weights


def sample_times_rate(frames: Iterable[Tuple[int, float, Any]], rate: float, frame_duration: float) -> Iterator[tuple]:
    """Rate sampling over a stream of ``(index, time, frame)``: yields ``(k, t_k, index, frame)`` (see module doc).

    Streams with one frame of look-ahead, so a long video is never held in memory.
    """
    k = 0
    prev = None
    for index, t, frame in frames:
        if prev is not None:
            while k / rate < t - _EPS:
                yield k, k / rate, prev[0], prev[2]
                k += 1
        prev = (index, t, frame)
    if prev is None:
        return
    end = prev[1] + frame_duration
    while k / rate < end - _EPS:
        yield k, k / rate, prev[0], prev[2]
        k += 1


@dataclass
class _Source:
    """One clip to segment: its frames (an iterator factory, called again for the overlay), sound and naming."""

    name: str  # what error messages and manifests call it (a path, or "<arrays>")
    clip_id: str
    frames: Callable[[], Iterator[Tuple[int, float, Any]]]  # -> (index, time_s, rgb array or PyAV frame)
    fps: float
    num_frames: int  # 0 when unknown (progress-bar estimate only)
    duration_s: float
    wave: np.ndarray  # [C, N] float32, native rate
    sample_rate: int


class _FrameFromArray:
    """Pipeline step standing in for ``LoadAVSImageFromFile``: the frame is already decoded (BGR, like mmcv)."""

    def __call__(self, results: dict) -> dict:
        img = results["img"]
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results


class _AudioWindowFromArray:
    """Pipeline step standing in for ``LoadAudioWindow``: cuts the window from the clip's decoded waveform, which
    is already mixed and resampled by the same rule (``audio_io.to_channels`` then ``audio_io.resample``)."""

    def __init__(self, sample_rate: int, channels: str, pad_mode: str) -> None:
        self.sample_rate, self.channels, self.pad_mode = sample_rate, channels, pad_mode

    def __call__(self, results: dict) -> dict:
        from mmseg_plugin.audio_io import cut_window

        wave = results.pop("audio_wave")
        win, info = cut_window(wave, self.sample_rate, results["audio_start"], results["audio_end"], self.pad_mode)
        info.update(anchor="start", sample_rate=self.sample_rate, channels=self.channels, num_sources=1, panned=False)
        out = win[0] if self.channels == "mono" else win
        results["audio"] = np.ascontiguousarray(out, dtype=np.float32)
        results["audio_window"] = info
        results["audio_sample_rate"] = self.sample_rate
        return results


class DDESegInferencer:
    """Segment the sounding objects of any clip with a trained DDESeg (see the module docstring).

    Args:
        model: a config file (with ``weights``) or a trained work_dir (see :func:`resolve_model`).
        weights: the checkpoint (None with a work_dir: its best / last checkpoint).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        batch_size: frames per forward pass (does not change what is computed for a frame; see
            mmseg_plugin.apis.inference for the last-bit caveat).
        cfg_options: mmengine ``merge_from_dict`` overrides.
        show_progress: tqdm bars (stderr) while segmenting and while writing the overlay video.
    """

    def __init__(
        self,
        model: str,
        weights: Optional[str] = None,
        device: str = "cpu",
        batch_size: int = 4,
        cfg_options: Optional[dict] = None,
        show_progress: bool = True,
    ) -> None:
        from mmengine.config import Config

        from .inference import init_model

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.config_path, self.checkpoint = resolve_model(model, weights)
        cfg = Config.fromfile(self.config_path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.cfg = cfg
        self.model, meta = init_model(cfg, self.checkpoint, device)
        self.task = cfg.model.get("task", "semantic")
        if meta is None or not meta.get("classes"):
            n = 2 if self.task == "binary" else int(cfg.model.net.num_classes)
            meta = dict(classes=tuple(["background"] + [f"class_{i}" for i in range(1, n)]))
        self.dataset_meta = dict(meta)
        self.classes = list(meta["classes"])
        self.palette = meta.get("palette")
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self.audio_type = (cfg.model.net.get("audio", None) or {}).get("type")
        steps = [t for t in copy.deepcopy(cfg.test_pipeline) if t["type"] != "LoadAVSAnnotations"]
        audio_steps = [t for t in steps if t["type"] == "LoadAudioWindow"]
        if len(audio_steps) != 1:
            raise ValueError(f"{self.config_path}: test_pipeline needs one LoadAudioWindow, found {len(audio_steps)}")
        a = audio_steps[0]
        self.sample_rate = int(a.get("sample_rate", 16000))
        self.channels = a.get("channels", "mono")
        self.pad_mode = a.get("pad_mode", "zero")
        self.window_seconds = float(a.get("window_seconds") or 1.0)
        self._steps = steps
        self._pipeline = None

    # ------------------------------------------------------------------ pipeline
    def _array_pipeline(self):
        if self._pipeline is None:
            from mmengine.dataset import Compose

            from .scope import ensure_mmseg_scope

            ensure_mmseg_scope()
            built = []
            for t in self._steps:
                if t["type"] == "LoadAVSImageFromFile":
                    built.append(_FrameFromArray())
                elif t["type"] == "LoadAudioWindow":
                    built.append(_AudioWindowFromArray(self.sample_rate, self.channels, self.pad_mode))
                else:
                    built.append(t)
            self._pipeline = Compose(built)
        return self._pipeline

    def _check_waveform_model(self, name: str) -> None:
        if self.audio_type == "precomputed":
            raise ValueError(
                f"{name}: {self.config_path} reads precomputed audio features (audio type 'precomputed'); inference "
                "on raw sound needs a waveform front end (htsat, vggish, logmel_cnn)"
            )

    def _prepare_wave(self, wave: np.ndarray, sr: int, name: str) -> np.ndarray:
        """Channel rule then resampling to the pipeline's rate: the order of ``audio_io.ClipCache``."""
        from mmseg_plugin.audio_io import resample, to_channels

        out = np.ascontiguousarray(resample(to_channels(wave, self.channels, name), sr, self.sample_rate))
        if not np.isfinite(out).all():
            raise ValueError(f"{name}: the sound gives non-finite samples after resampling {sr} -> {self.sample_rate}")
        return out.astype(np.float32, copy=False)

    def _run_batch(self, items: List[dict]) -> list:
        from mmengine.dataset import pseudo_collate

        pipeline = self._array_pipeline()
        with torch.no_grad():
            return self.model.test_step(pseudo_collate([pipeline(it) for it in items]))

    # ------------------------------------------------------------------ sources
    def _video_source(self, path: str, clip_id: Optional[str]) -> _Source:
        from mmseg_plugin.video_io import iter_frames, probe_video, read_audio

        info = probe_video(path, need_audio=True)
        wave, sr = read_audio(path)
        fps = info.fps if info.fps > 0 else 25.0
        return _Source(
            name=path,
            clip_id=clip_id or osp.splitext(osp.basename(path))[0],
            frames=lambda: iter_frames(path, as_array=False),  # converted to RGB only when used
            fps=fps,
            num_frames=info.num_frames,
            duration_s=info.duration_s,
            wave=wave,
            sample_rate=sr,
        )

    def _array_source(self, frames, audio, fps, sample_rate, clip_id) -> _Source:
        name = "<arrays>"
        if fps is None or fps <= 0:
            raise ValueError(f"{name}: in-memory frames need their fps (> 0), got {fps}")
        if isinstance(audio, tuple) and len(audio) == 2 and sample_rate is None:
            audio, sample_rate = audio
        if audio is None or sample_rate is None:
            raise ValueError(f"{name}: in-memory frames need audio=(waveform [N] or [C, N], sample_rate)")
        wave = np.asarray(audio, dtype=np.float32)
        wave = wave[None] if wave.ndim == 1 else wave
        if wave.ndim != 2 or wave.shape[1] == 0:
            raise ValueError(f"{name}: audio must be [N] or [C, N] with N > 0, got shape {np.shape(audio)}")
        frames = list(frames) if not isinstance(frames, np.ndarray) else frames
        if len(frames) == 0:
            raise ValueError(f"{name}: no frames")
        for i, f in enumerate(frames):
            if np.ndim(f) != 3 or np.shape(f)[2] != 3 or np.asarray(f).dtype != np.uint8:
                raise ValueError(
                    f"{name}: frame {i} must be [H, W, 3] uint8 RGB, got {np.shape(f)} {np.asarray(f).dtype}"
                )
        return _Source(
            name=name,
            clip_id=clip_id or "clip",
            frames=lambda: ((i, i / fps, np.asarray(f)) for i, f in enumerate(frames)),
            fps=float(fps),
            num_frames=len(frames),
            duration_s=len(frames) / fps,
            wave=wave,
            sample_rate=int(sample_rate),
        )

    # ------------------------------------------------------------------ call
    def __call__(
        self,
        inputs: Union[str, np.ndarray, Sequence[np.ndarray]],
        audio: Any = None,
        out_dir: Optional[str] = None,
        *,
        sampling: str = "rate",
        rate: float = 1.0,
        fps: Optional[float] = None,
        sample_rate: Optional[int] = None,
        audio_start: float = 0.0,
        clip_id: Optional[str] = None,
        overlay: bool = True,
        timeline: bool = True,
        plot: bool = True,
        return_masks: bool = True,
    ) -> Dict[str, Any]:
        """Segment one clip.

        Args:
            inputs: a video file, a folder of frames (then ``audio`` is its audio file), or frames ``[T, H, W, 3]``
                uint8 RGB (then ``audio`` is ``(waveform, sample_rate)`` or a waveform with ``sample_rate``, and
                ``fps`` is required).
            out_dir: where the files go (None: nothing is written; masks are still returned).
            sampling / rate: see the module docstring (a folder of frames is at ``rate`` frames per second, so its
                frame k hears ``[audio_start + k / rate, audio_start + k / rate + W)``; ``every_frame`` is for
                videos and arrays).
            audio_start: frames-folder mode only: where frame 0's window starts (s).
            overlay / timeline / plot: write the overlay video, the timeline files, the timeline plot.
            return_masks: keep every mask ([H, W] uint8) in the result (set False for long videos: they are on disk).

        Returns:
            dict(clip_id, num_samples, times (s per sample), video_frames (frame index per sample), masks (list, or
            None), timeline (rows), files (paths written), audio_padded_samples (per sample)).
        """
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if not rate > 0:
            raise ValueError(f"rate must be > 0 (frames per second), got {rate}")
        if isinstance(inputs, (str, os.PathLike)):
            inputs = os.fspath(inputs)
            if osp.isdir(inputs):
                if audio is None:
                    raise ValueError(f"{inputs} is a folder of frames: pass its audio file as audio")
                if sampling != "rate":
                    raise ValueError(f"{inputs}: a folder of frames is sampled at `rate`; every_frame is for videos")
                return self._run_folder(
                    inputs, os.fspath(audio), out_dir, rate, audio_start, clip_id, overlay, timeline, plot, return_masks
                )
            if audio is not None:
                raise ValueError(f"{inputs}: a video file carries its own sound; audio must be None")
            self._check_waveform_model(inputs)
            source = self._video_source(inputs, clip_id)
        else:
            self._check_waveform_model("<arrays>")
            source = self._array_source(inputs, audio, fps, sample_rate, clip_id)
        return self._run_stream(source, out_dir, sampling, rate, overlay, timeline, plot, return_masks)

    # ------------------------------------------------------------------ video / arrays
    def _windows(self, t: float, sampling: str, audio_duration: float) -> Tuple[float, float]:
        w = self.window_seconds
        if sampling == "rate":
            start = t
        else:
            start = min(max(0.0, t - w / 2), max(0.0, audio_duration - w))
        return start, start + w

    def _progress(self, total: Optional[int], desc: str):
        from tqdm import tqdm

        return tqdm(
            total=total or None, desc=desc, unit="frame", disable=not self.show_progress, leave=True, dynamic_ncols=True
        )

    def _run_stream(self, src: _Source, out_dir, sampling, rate, overlay, timeline, plot, return_masks) -> dict:
        from mmseg_plugin.video_io import to_rgb

        from .timeline import Timeline

        wave = self._prepare_wave(src.wave, src.sample_rate, src.name)
        audio_duration = wave.shape[1] / self.sample_rate
        writer = self._mask_writer(out_dir)
        tl = Timeline(self.classes, self.palette)
        frames = src.frames()
        if sampling == "rate":
            samples = sample_times_rate(frames, rate, 1.0 / src.fps)
            total = math.ceil((src.duration_s or src.num_frames / src.fps) * rate - _EPS)
        else:
            samples = ((i, t, i, f) for i, t, f in frames)
            total = src.num_frames
        result = dict(
            clip_id=src.clip_id,
            times=[],
            video_frames=[],
            masks=[] if return_masks else None,
            audio_windows=[],
            audio_padded_samples=[],
            files={},
        )
        batch: List[dict] = []

        def flush():
            outputs = self._run_batch(batch)
            for item, out in zip(batch, outputs):
                pred = out.pred_sem_seg.data.reshape(out.pred_sem_seg.data.shape[-2:]).cpu().numpy().astype(np.uint8)
                del out.seg_logits  # [C, H, W] floats per frame: not kept
                if writer is not None:
                    writer.process(None, [out])
                tl.add(item["sample_time"], pred)
                if return_masks:
                    result["masks"].append(pred)
                result["audio_padded_samples"].append(int(out.metainfo["audio_window"]["num_padded"]))
            bar.update(len(batch))
            batch.clear()

        with self._progress(total, f"segment {src.clip_id}") as bar:
            for k, t, index, frame in samples:
                rgb = to_rgb(frame)
                start, end = self._windows(t, sampling, audio_duration)
                if start >= audio_duration - 1e-9:
                    raise ValueError(
                        f"{src.name}: its sound lasts {audio_duration:.3f} s, but sample {k} (video frame {index} at "
                        f"{t:.3f} s) would start hearing at {start:.3f} s: the audio track ends before the video"
                    )
                result["times"].append(round(t, 6))
                result["video_frames"].append(index)
                result["audio_windows"].append((round(start, 6), round(end, 6)))
                batch.append(
                    dict(
                        img=np.ascontiguousarray(rgb[..., ::-1]),  # BGR, as mmcv's loader gives
                        img_path=f"{src.name}#frame={index}",
                        seg_map_path=None,
                        audio_path=src.name,
                        audio_wave=wave,
                        audio_start=start,
                        audio_end=end,
                        label_format="index",
                        clip_id=src.clip_id,
                        frame_index=k,
                        has_label=False,
                        seg_fields=[],
                        reduce_zero_label=False,
                        sample_time=t,
                    )
                )
                if len(batch) == self.batch_size:
                    flush()
            if batch:
                flush()
        if not result["times"]:
            raise ValueError(f"{src.name}: no frame to segment")
        result["num_samples"] = len(result["times"])
        result["timeline"] = tl.rows()
        if out_dir is not None:
            result["files"] = self._write_files(
                src, out_dir, result, writer, tl, sampling, rate, overlay, timeline, plot
            )
        return result

    def _mask_writer(self, out_dir):
        if out_dir is None:
            return None
        from mmseg_plugin.evaluation import AVSMaskWriter

        writer = AVSMaskWriter(osp.join(out_dir, "masks"), task=self.task)
        writer.dataset_meta = self.dataset_meta
        return writer

    def _write_files(self, src, out_dir, result, writer, tl, sampling, rate, overlay, timeline, plot) -> dict:
        files: Dict[str, str] = {}
        writer.evaluate(result["num_samples"])  # masks.csv
        files["masks"] = writer.output_dir
        samples_csv = osp.join(out_dir, "samples", f"{src.clip_id}.csv")
        os.makedirs(osp.dirname(samples_csv), exist_ok=True)
        with open(samples_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(
                ["sample", "time_s", "video_frame", "audio_start_s", "audio_end_s", "audio_padded_samples", "mask"]
            )
            for k, (t, i, (a, b), p) in enumerate(
                zip(result["times"], result["video_frames"], result["audio_windows"], result["audio_padded_samples"])
            ):
                w.writerow([k, t, i, a, b, p, f"{src.clip_id}/{k}.png"])
        files["samples"] = samples_csv
        if timeline:
            for key, path in tl.write(osp.join(out_dir, "timeline"), src.clip_id, plot=plot).items():
                files[f"timeline_{key}"] = path
        if overlay:
            files["overlay"] = self._write_overlay(src, out_dir, result, sampling, rate, writer.output_dir)
        return files

    def _mask_reader(self, masks_dir: str, clip_id: str):
        from PIL import Image

        cache: Dict[int, np.ndarray] = {}

        def read(k: int) -> np.ndarray:
            if k not in cache:
                cache.clear()
                m = np.asarray(Image.open(osp.join(masks_dir, clip_id, f"{k}.png")))
                cache[k] = (m > 0).astype(np.uint8) if self.task == "binary" else m
            return cache[k]

        return read

    def _write_overlay(self, src, out_dir, result, sampling, rate, masks_dir) -> str:
        """Every input frame with the mask of the sample that covers it; the original sound muxed back."""
        from mmseg_plugin.video_io import VideoWriter, to_rgb

        from .overlay import draw_overlay

        path = osp.join(out_dir, "overlay", f"{src.clip_id}.mp4")
        read = self._mask_reader(masks_dir, src.clip_id)
        last = result["num_samples"] - 1
        wave = src.wave
        with (
            VideoWriter(path, src.fps, wave, src.sample_rate) as vw,
            self._progress(src.num_frames, f"overlay {src.clip_id}") as bar,
        ):
            for i, t, frame in src.frames():
                rgb = to_rgb(frame)
                k = min(last, int(math.floor((t + _EPS) * rate))) if sampling == "rate" else i
                vw.write(draw_overlay(rgb, read(k), self.classes, self.palette))
                bar.update(1)
        return path

    # ------------------------------------------------------------------ frames folder
    def _run_folder(
        self, frames_dir, audio_path, out_dir, rate, audio_start, clip_id, overlay, timeline, plot, return_masks
    ) -> dict:
        from PIL import Image

        from mmseg_plugin.audio_io import read_wav

        from .inference import clip_frame_items, predict_clip
        from .timeline import Timeline

        items = clip_frame_items(frames_dir, audio_path, 1.0 / rate, audio_start, clip_id)
        for it in items:  # the training window W from each sample's start (rate 1: [k, k + 1), as tools/infer.py)
            it["audio_end"] = it["audio_start"] + self.window_seconds
        clip = items[0]["clip_id"]
        writer = self._mask_writer(out_dir)
        tl = Timeline(self.classes, self.palette)
        result = dict(
            clip_id=clip,
            times=[],
            video_frames=[],
            masks=[] if return_masks else None,
            audio_windows=[],
            audio_padded_samples=[],
            files={},
        )
        with self._progress(len(items), f"segment {clip}") as bar:
            for i in range(0, len(items), self.batch_size):
                chunk = items[i : i + self.batch_size]
                for item, out in zip(chunk, predict_clip(self.model, self.cfg, chunk, self.batch_size)):
                    pred = out.pred_sem_seg.data.reshape(out.pred_sem_seg.data.shape[-2:]).cpu().numpy()
                    pred = pred.astype(np.uint8)
                    del out.seg_logits
                    if writer is not None:
                        writer.process(None, [out])
                    t = item["frame_index"] / rate
                    tl.add(t, pred)
                    result["times"].append(round(t, 6))
                    result["video_frames"].append(item["frame_index"])
                    result["audio_windows"].append((item["audio_start"], item["audio_end"]))
                    result["audio_padded_samples"].append(int(out.metainfo["audio_window"]["num_padded"]))
                    if return_masks:
                        result["masks"].append(pred)
                bar.update(len(chunk))
        result["num_samples"] = len(items)
        result["timeline"] = tl.rows()
        if out_dir is not None:
            wave, sr = read_wav(audio_path)
            paths = [it["img_path"] for it in items]

            def frames():
                for k, p in enumerate(paths):
                    yield k, k / rate, np.asarray(Image.open(p).convert("RGB"))

            src = _Source(
                name=frames_dir,
                clip_id=clip,
                frames=frames,
                fps=rate,
                num_frames=len(items),
                duration_s=len(items) / rate,
                wave=wave,
                sample_rate=sr,
            )
            result["files"] = self._write_files(src, out_dir, result, writer, tl, "rate", rate, overlay, timeline, plot)
        return result
