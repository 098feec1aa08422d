"""Video file I/O with PyAV (FFmpeg bundled in its wheel; the ``[video]`` extra): probe, decode, encode.

No paper equation. Used by ``mmseg_plugin.apis.DDESegInferencer`` to read any container FFmpeg reads (mp4, mkv,
webm, mov, ...) and to write the overlay video with the original sound muxed back.

Conventions:

- Time 0 is the first decoded video frame for the pictures and the first decoded audio sample for the sound (so a
  container whose streams start late, e.g. after an edit list, is read from where each stream starts).
- ``iter_frames`` yields every decoded frame in presentation order as ``(index, time_s, rgb)`` with ``rgb``
  ``[H, W, 3]`` uint8; ``read_audio`` returns the whole track as float32 ``[C, N]`` at the stream's own rate.
- Every failure raises :class:`VideoReadError` (a ``ValueError``) whose message names the file and the problem:
  missing or zero-length file, not a media file / corrupt / truncated, no video stream, no audio stream, a codec
  this FFmpeg build cannot decode, a stream that decodes to nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator, Optional, Tuple

import numpy as np

__all__ = [
    "VideoInfo",
    "VideoReadError",
    "VideoWriter",
    "import_av",
    "iter_frames",
    "probe_video",
    "read_audio",
    "to_rgb",
]


class VideoReadError(ValueError):
    """A video file cannot be used: the message names the file and the problem."""


def import_av():
    """PyAV, or an ImportError that says how to install it."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "video files need PyAV: pip install 'ddeseg-layers[video]' (or `pip install av`; FFmpeg comes with it)"
        ) from exc
    return av


@dataclass
class VideoInfo:
    """What the container says about its first video and first audio stream (estimates until decoded)."""

    path: str
    width: int
    height: int
    fps: float  # average frame rate (frames per second)
    num_frames: int  # the container's count, 0 when unknown
    duration_s: float  # the video stream's duration (or the container's), 0.0 when unknown
    video_codec: str
    audio_codec: Optional[str]
    audio_sample_rate: Optional[int]
    audio_channels: Optional[int]


def _open(path: str):
    av = import_av()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"video file not found: {path}")
    if os.path.isdir(path):
        raise VideoReadError(f"{path} is a folder, not a video file (a folder of frames needs an audio file)")
    if os.path.getsize(path) == 0:
        raise VideoReadError(f"video file {path} is empty (zero bytes)")
    try:
        return av.open(path, mode="r")
    except av.error.FFmpegError as exc:
        raise VideoReadError(f"cannot open video file {path} (corrupt, truncated or not a media file): {exc}") from exc


def _check_decoder(stream, kind: str, path: str) -> None:
    """A stream whose codec this FFmpeg build cannot decode (or does not know) is an error naming both."""
    ctx = stream.codec_context
    name = getattr(ctx, "name", None) or "unknown"
    if name in ("none", "unknown") or ctx.codec is None:
        raise VideoReadError(
            f"{path}: unsupported {kind} codec {name!r}: FFmpeg (PyAV {import_av().__version__}) "
            "has no decoder for it; re-encode the file (e.g. H.264 video, AAC audio)"
        )


def _streams(container, path: str, need_audio: bool):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoReadError(f"{path} has no video stream (streams: {', '.join(kinds)})")
    video = container.streams.video[0]
    _check_decoder(video, "video", path)
    audio = container.streams.audio[0] if container.streams.audio else None
    if need_audio and audio is None:
        raise VideoReadError(
            f"{path} has no audio track: DDESeg segments what sounds, so it needs the clip's sound (pass a folder of "
            "frames and a separate audio file instead if the sound lives elsewhere)"
        )
    if audio is not None:
        _check_decoder(audio, "audio", path)
    return video, audio


def probe_video(path: str, need_audio: bool = True) -> VideoInfo:
    """Open ``path`` and describe its streams without decoding (errors as :class:`VideoReadError`)."""
    with _open(path) as container:
        video, audio = _streams(container, path, need_audio)
        rate = video.average_rate or video.guessed_rate or video.base_rate
        if video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000.0
        else:
            duration = 0.0
        return VideoInfo(
            path=path,
            width=int(video.codec_context.width),
            height=int(video.codec_context.height),
            fps=float(rate) if rate else 0.0,
            num_frames=int(video.frames or 0),
            duration_s=duration,
            video_codec=video.codec_context.name,
            audio_codec=None if audio is None else audio.codec_context.name,
            audio_sample_rate=None if audio is None else int(audio.codec_context.sample_rate),
            audio_channels=None if audio is None else int(audio.codec_context.channels),
        )


def _decode_error(path: str, what: str, exc: Exception) -> VideoReadError:
    return VideoReadError(f"{path}: decoding the {what} failed (corrupt or truncated file?): {exc}")


def iter_frames(path: str, need_audio: bool = False, as_array: bool = True) -> Iterator[Tuple[int, float, Any]]:
    """Every frame of the first video stream: ``(index, time_s, rgb [H, W, 3] uint8)``, time relative to frame 0.

    Frames without a timestamp get ``index / fps``. A stream that yields no frame is an error naming the file.
    ``as_array=False`` yields PyAV ``VideoFrame`` objects instead (convert with :func:`to_rgb` only the frames you
    keep: the colour conversion costs more than the decoding of a small frame).
    """
    av = import_av()
    with _open(path) as container:
        video, _ = _streams(container, path, need_audio)
        rate = float(video.average_rate or video.guessed_rate or 25)
        t0 = None
        index = 0
        try:
            for frame in container.decode(video=0):
                t = frame.time if frame.time is not None else index / rate
                t0 = t if t0 is None else t0
                yield index, max(0.0, float(t - t0)), to_rgb(frame) if as_array else frame
                index += 1
        except av.error.FFmpegError as exc:
            raise _decode_error(path, f"video after frame {index}", exc) from exc
        if index == 0:
            raise VideoReadError(f"{path}: the video stream decodes to no frame (empty, corrupt or truncated file)")


def to_rgb(frame) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB of a PyAV ``VideoFrame`` (an ndarray is returned as is)."""
    return frame if isinstance(frame, np.ndarray) else frame.to_ndarray(format="rgb24")


def read_audio(path: str) -> Tuple[np.ndarray, int]:
    """The whole first audio track of ``path`` as float32 ``[C, N]`` at its own sample rate.

    Raises:
        VideoReadError: no audio track, undecodable codec, corrupt data, no samples or non-finite samples.
    """
    av = import_av()
    with _open(path) as container:
        if not container.streams.audio:
            _streams(container, path, need_audio=True)  # raises the "no audio track" error
        stream = container.streams.audio[0]
        _check_decoder(stream, "audio", path)
        sr = int(stream.codec_context.sample_rate or 0)
        resampler = None
        chunks = []
        try:
            for frame in container.decode(audio=0):
                if resampler is None:  # planar float32, same rate and layout: an exact conversion
                    sr = int(frame.sample_rate)
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=sr)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            raise _decode_error(path, "audio", exc) from exc
    if not chunks or sum(c.shape[-1] for c in chunks) == 0:
        raise VideoReadError(f"{path}: the audio track decodes to no samples (empty, corrupt or truncated file)")
    if sr <= 0:
        raise VideoReadError(f"{path}: the audio track has an invalid sample rate {sr}")
    wave = np.ascontiguousarray(np.concatenate(chunks, axis=-1), dtype=np.float32)
    if stream.duration and stream.time_base:  # AAC & co. decode their last frame's padding too: cut it
        wave = wave[:, : max(1, int(round(float(stream.duration * stream.time_base) * sr)))]
    if not np.isfinite(wave).all():
        raise VideoReadError(f"{path}: the audio track holds {int((~np.isfinite(wave)).sum())} non-finite samples")
    return wave, sr


class VideoWriter:
    """Encode RGB frames (H.264, yuv420p) and optionally one audio track (AAC) into ``path`` (mp4 / mkv / mov).

    Frames are numbered 0, 1, ... at ``fps`` (the output has exactly the frames written); odd sizes are padded by
    one edge row / column (H.264 4:2:0 needs even sizes). ``audio`` ``[C, N]`` float32 at ``sample_rate`` is encoded
    in full (more than two channels are mixed to stereo).
    """

    def __init__(
        self,
        path: str,
        fps: float,
        audio: Optional[np.ndarray] = None,
        sample_rate: Optional[int] = None,
        codec: str = "libx264",
        crf: int = 20,
    ) -> None:
        av = import_av()
        if fps <= 0:
            raise ValueError(f"VideoWriter: fps must be > 0, got {fps}")
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        self.path = path
        self._av = av
        self._rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(path, mode="w")
        self._codec = codec
        self._crf = crf
        self._video = None
        self._size = None
        self._count = 0
        self._audio = None if audio is None else np.asarray(audio, dtype=np.float32)
        self._sample_rate = sample_rate
        self._audio_stream = None
        if self._audio is not None:
            if self._audio.ndim == 1:
                self._audio = self._audio[None]
            if self._audio.shape[0] > 2:
                self._audio = np.stack([self._audio[0::2].mean(0), self._audio[1::2].mean(0)]).astype(np.float32)
            if not sample_rate:
                raise ValueError("VideoWriter: audio needs its sample_rate")
            layout = "mono" if self._audio.shape[0] == 1 else "stereo"
            self._audio_stream = self._container.add_stream("aac", rate=int(sample_rate), layout=layout)

    def _open_video(self, h: int, w: int) -> None:
        self._size = (h, w)
        stream = self._container.add_stream(self._codec, rate=self._rate)
        stream.width, stream.height = w + (w % 2), h + (h % 2)
        stream.pix_fmt = "yuv420p"
        if self._codec == "libx264":
            stream.options = {"crf": str(self._crf), "preset": "veryfast"}
        self._video = stream

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``[H, W, 3]`` uint8 RGB frame (every frame must have the first one's size)."""
        h, w = rgb.shape[:2]
        if self._video is None:
            self._open_video(h, w)
        if (h, w) != self._size:
            raise ValueError(f"VideoWriter {self.path}: frame {self._count} is {h}x{w}, the first was {self._size}")
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._count
        frame.time_base = 1 / self._rate
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self._count += 1

    def _write_audio(self) -> None:
        stream, wave = self._audio_stream, self._audio
        step = 1024 * 16
        layout = "mono" if wave.shape[0] == 1 else "stereo"
        for i in range(0, wave.shape[1], step):
            chunk = np.ascontiguousarray(wave[:, i : i + step])
            frame = self._av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = int(self._sample_rate)
            frame.pts = i
            frame.time_base = Fraction(1, int(self._sample_rate))
            for packet in stream.encode(frame):
                self._container.mux(packet)
        for packet in stream.encode(None):
            self._container.mux(packet)

    def close(self) -> int:
        """Flush the encoders, mux the audio, close the file; returns the number of frames written."""
        if self._container is None:
            return self._count
        try:
            if self._video is not None:
                for packet in self._video.encode(None):
                    self._container.mux(packet)
            if self._audio_stream is not None:
                self._write_audio()
        finally:
            self._container.close()
            self._container = None
        return self._count

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
