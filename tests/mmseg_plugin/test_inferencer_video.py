"""DDESegInferencer on real video files (PyAV): masks equal the frames-folder path's, overlay video, timeline, and
every kind of bad input named with its file."""

import csv
import json
import os
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
import torch
from mmengine.config import Config
from PIL import Image

av = pytest.importorskip("av")

from mmseg_plugin.video_io import VideoReadError, read_audio  # noqa: E402

pytestmark = pytest.mark.mmseg

FPS = 5  # each synthetic frame (1 per second) is shown for 5 video frames


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_synthetic_config):
    """A tiny synthetic set, a randomly initialised DDESeg saved as a checkpoint, and an inferencer on it."""
    from mmseg.registry import DATASETS, MODELS

    import mmseg_plugin.registry  # noqa: F401
    from ddeseg_layers.memory import SemanticMemory
    from mmseg_plugin.apis import DDESegInferencer
    from mmseg_plugin.apis.scope import ensure_mmseg_scope

    ensure_mmseg_scope()
    tmp = tmp_path_factory.mktemp("video")
    cfg_path = tiny_synthetic_config(tmp, train=2, test=1)
    cfg = Config.fromfile(cfg_path)
    ds = DATASETS.build(cfg.test_dataloader.dataset.to_dict())
    torch.manual_seed(0)
    c = len(ds.metainfo["classes"])
    model_cfg = cfg.model.to_dict()
    model_cfg["net"]["num_classes"] = model_cfg["net"]["memory"]["num_classes"] = c
    model_cfg["semantic_memory_path"] = None
    model_cfg["require_memory"] = False
    model = MODELS.build(model_cfg)
    d = model.net.audio_dim
    model.net.set_memory(
        SemanticMemory.build(torch.randn(6 * c, d), torch.arange(6 * c) % c, num_clusters=2, num_reps=2, num_classes=c)
    )
    ckpt = str(tmp / "model.pth")
    meta = dict(classes=tuple(ds.metainfo["classes"]), palette=ds.metainfo["palette"])
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), ckpt)
    infos = sorted((ds.get_data_info(i) for i in range(len(ds))), key=lambda i: (i["clip_id"], i["frame_index"]))
    infos = [i for i in infos if i["clip_id"] == infos[0]["clip_id"]]
    inferencer = DDESegInferencer(cfg_path, ckpt, batch_size=2, show_progress=False)
    return dict(tmp=tmp, infos=infos, inferencer=inferencer, cfg=cfg_path, ckpt=ckpt)


def _frames_and_audio(infos):
    frames = [np.asarray(Image.open(i["img_path"]).convert("RGB")) for i in infos]
    wave, sr = sf.read(infos[0]["audio_path"], dtype="float32", always_2d=True)
    return frames, wave.T, sr


def _encode(path, frames, wave, sr, vcodec, pix_fmt, acodec, afmt, repeat=FPS):
    """Write ``frames`` (each ``repeat`` times at FPS) and ``wave`` [C, N] with PyAV directly (no project code)."""
    with av.open(path, "w") as c:
        vs = c.add_stream(vcodec, rate=FPS)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        streams = [vs]
        if wave is not None:
            streams.append(c.add_stream(acodec, rate=sr, layout="mono"))
        n = 0
        for f in frames:
            for _ in range(repeat):
                vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                vf.pts = n
                vf.time_base = Fraction(1, FPS)
                n += 1
                for p in vs.encode(vf):
                    c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if wave is not None:
            a = streams[1]
            for i in range(0, wave.shape[1], 4096):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, i : i + 4096]), format=afmt, layout="mono")
                af.sample_rate, af.pts, af.time_base = sr, i, Fraction(1, sr)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def _masks(folder, clip, n):
    return [np.asarray(Image.open(os.path.join(folder, clip, f"{k}.png"))) for k in range(n)]


def test_lossless_video_equals_the_frames_folder_path(env):
    """FFV1 (RGB) + float PCM in Matroska decode to the very frames and samples of the set: identical masks."""
    frames, wave, sr = _frames_and_audio(env["infos"])
    video = _encode(str(env["tmp"] / "clip.mkv"), frames, wave, sr, "ffv1", "bgr0", "pcm_f32le", "flt")
    inf = env["inferencer"]
    got = inf(video, out_dir=str(env["tmp"] / "mkv"), overlay=False, clip_id="c")
    folder = os.path.dirname(env["infos"][0]["img_path"])
    ref = inf(folder, env["infos"][0]["audio_path"], out_dir=str(env["tmp"] / "dir"), overlay=False, clip_id="c")
    assert got["num_samples"] == ref["num_samples"] == len(frames)
    assert got["video_frames"] == [FPS * k for k in range(len(frames))]  # the frame on screen at t = k s
    assert got["audio_windows"] == ref["audio_windows"] == [(float(k), k + 1.0) for k in range(len(frames))]
    for a, b in zip(_masks(str(env["tmp"] / "mkv" / "masks"), "c", len(frames)), got["masks"]):
        assert np.array_equal(a, b)
    for a, b in zip(got["masks"], ref["masks"]):
        assert np.array_equal(a, b)


def test_mp4_masks_overlay_and_timeline(env):
    """H.264 + AAC mp4: masks equal the frames-folder path on the decoded frames; the overlay video keeps the
    input's frame count and sound; timeline files and plot are written."""
    frames, wave, sr = _frames_and_audio(env["infos"])
    video = _encode(str(env["tmp"] / "clip.mp4"), frames, wave, sr, "libx264", "yuv420p", "aac", "fltp")
    out = str(env["tmp"] / "mp4")
    inf = env["inferencer"]
    got = inf(video, out_dir=out)
    clip = "clip"
    # the same frames, decoded independently, and the same decoded sound, as a folder + WAV
    folder = env["tmp"] / "decoded" / "frames"
    folder.mkdir(parents=True)
    with av.open(video) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == FPS * len(frames)
    for k in range(len(frames)):
        Image.fromarray(decoded[FPS * k]).save(folder / f"{k}.png")
    audio, asr = read_audio(video)
    sf.write(str(env["tmp"] / "decoded" / "audio.wav"), audio.T, asr, subtype="FLOAT")
    ref = inf(str(folder), str(env["tmp"] / "decoded" / "audio.wav"), clip_id=clip)
    assert got["num_samples"] == ref["num_samples"] == len(frames)
    for a, b in zip(got["masks"], ref["masks"]):
        assert np.array_equal(a, b)
    assert abs(audio.shape[1] / asr - wave.shape[1] / sr) < 1e-3  # the AAC tail padding is cut
    # overlay: every input frame, the input's sound
    files = got["files"]
    with av.open(files["overlay"]) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == len(decoded)
    over, osr = read_audio(files["overlay"])
    assert abs(over.shape[1] / osr - audio.shape[1] / asr) < 0.03
    # masks.csv, per-sample table, timeline
    with open(os.path.join(out, "masks", "masks.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame_index"]) for r in rows] == list(range(len(frames)))
    assert rows[1]["img_path"].endswith(f"clip.mp4#frame={FPS}")
    with open(files["samples"]) as f:
        assert [r["video_frame"] for r in csv.DictReader(f)] == [str(FPS * k) for k in range(len(frames))]
    with open(files["timeline_json"]) as f:
        tl = json.load(f)
    assert [s["second"] for s in tl["seconds"]] == list(range(len(frames)))
    assert all(s["num_samples"] == 1 for s in tl["seconds"])
    assert Image.open(files["timeline_png"]).size[0] > 100


def test_every_frame_and_a_clip_shorter_than_one_window(env):
    """every_frame: one sample per frame with the centred window; 0.4 s of sound is padded by the config's rule."""
    frames, wave, sr = _frames_and_audio(env["infos"])
    inf = env["inferencer"]
    n = int(0.4 * sr)
    got = inf(np.stack(frames[:2]), (wave[:, :n], sr), fps=5, sampling="every_frame", return_masks=True)
    assert got["num_samples"] == 2 and got["times"] == [0.0, 0.2]
    assert got["audio_windows"] == [(0.0, 1.0), (0.0, 1.0)]  # shorter than W: from 0, padded
    padded = int(round(1.0 * inf.sample_rate)) - int(round(n * inf.sample_rate / sr))
    assert got["audio_padded_samples"] == [padded, padded] and inf.pad_mode == "zero"
    long = inf(np.stack(frames * 2), (np.tile(wave, 2), sr), fps=2, sampling="every_frame")
    starts = [w[0] for w in long["audio_windows"]]
    assert starts[0] == 0.0 and starts[3] == pytest.approx(1.0) and starts[-1] == pytest.approx(4.0)


def test_bad_inputs_name_the_file(env, tmp_path):
    frames, wave, sr = _frames_and_audio(env["infos"])
    inf = env["inferencer"]
    silent = _encode(str(tmp_path / "silent.mp4"), frames, None, sr, "libx264", "yuv420p", None, None, repeat=1)
    with pytest.raises(VideoReadError, match="silent.mp4 has no audio track"):
        inf(silent)
    sound = str(tmp_path / "sound.wav")
    sf.write(sound, wave.T, sr)
    with pytest.raises(VideoReadError, match="sound.wav has no video stream"):
        inf(sound)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty.mp4 is empty"):
        inf(str(empty))
    junk = tmp_path / "junk.webm"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(VideoReadError, match="cannot open video file .*junk.webm"):
        inf(str(junk))
    whole = _encode(str(tmp_path / "whole.mp4"), frames, wave, sr, "libx264", "yuv420p", "aac", "fltp")
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match="cut.mp4 .*truncated"):
        inf(str(cut))
    lossless = _encode(str(tmp_path / "ok.mkv"), frames, wave, sr, "ffv1", "bgr0", "pcm_f32le", "flt", repeat=1)
    raw = open(lossless, "rb").read()
    assert raw.count(b"V_FFV1") == 1
    odd = tmp_path / "odd.mkv"
    odd.write_bytes(raw.replace(b"V_FFV1", b"V_QQQQ"))  # a codec id no FFmpeg decoder knows
    with pytest.raises(VideoReadError, match="odd.mkv: unsupported video codec"):
        inf(str(odd))
    with pytest.raises(FileNotFoundError, match="video file not found: .*nope.mov"):
        inf(str(tmp_path / "nope.mov"))
    # a video shorter than one window: its 0.4 s of sound, then the config's padding (zeros)
    tiny = _encode(
        str(tmp_path / "tiny.mkv"), frames[:1], wave[:, : 2 * sr // 5], sr, "ffv1", "bgr0", "pcm_f32le", "flt", repeat=2
    )
    got = inf(tiny)
    assert got["num_samples"] == 1 and got["audio_windows"] == [(0.0, 1.0)]
    assert got["audio_padded_samples"] == [inf.sample_rate - int(round(0.4 * inf.sample_rate))]
    # a sound that ends long before the picture
    short = _encode(str(tmp_path / "short.mkv"), frames, wave[:, : sr // 2], sr, "ffv1", "bgr0", "pcm_f32le", "flt")
    with pytest.raises(ValueError, match=r"short.mkv: its sound lasts 0.500 s, but sample 1"):
        inf(short)


def test_infer_tool_video_mode_is_quiet(env, tool, capsys):
    """tools/infer.py --video: results and files on the terminal, mmengine's log in OUT/infer.log."""
    frames, wave, sr = _frames_and_audio(env["infos"])
    video = _encode(str(env["tmp"] / "tool.mkv"), frames, wave, sr, "ffv1", "bgr0", "pcm_f32le", "flt")
    out = str(env["tmp"] / "tool_out")
    result = tool("infer").main([env["cfg"], env["ckpt"], "--video", video, "--out", out, "--no-overlay-video"])
    printed = capsys.readouterr().out
    assert result["num_samples"] == len(frames) and "overlay" not in result["files"]
    assert f"tool.mkv: {len(frames)} frames segmented (rate, rate 1.0/s)" in printed
    assert "    0 s:" in printed and "timeline_png:" in printed
    assert "mmengine - INFO" not in printed and f"full log (mmengine, warnings): {out}/infer.log" in printed
    assert os.path.isfile(os.path.join(out, "infer.log"))


def test_quiet_logs_routes_new_mmengine_loggers_to_the_file(tmp_path, capsys):
    from mmengine.logging import MMLogger

    from mmseg_plugin.quiet import quiet_logs

    log = str(tmp_path / "run.log")
    with quiet_logs(log) as path:
        MMLogger.get_instance("quiet_test_logger", log_level="INFO").info("hidden line")
        import warnings

        warnings.warn("a deprecation notice", DeprecationWarning, stacklevel=1)
    printed = capsys.readouterr()
    assert "hidden line" not in printed.out + printed.err and path == log
    text = open(log).read()
    assert "hidden line" in text and "a deprecation notice" in text
    with quiet_logs(log, verbose=True) as path:
        MMLogger.get_instance("quiet_test_logger2", log_level="INFO").info("shown line")
    assert path is None and "shown line" in capsys.readouterr().out


def test_main_job_is_quiet_and_logs_to_the_work_dir(tmp_path, tool, tiny_synthetic_config, capsys):
    """tools/run_pipeline.py: stage lines and progress bars on the terminal, mmengine's log in the work_dir."""
    work = str(tmp_path / "work")
    args = [tiny_synthetic_config(tmp_path), "--work-dir", work, "--audio-iters", "1", "--stop-after", "audio"]
    summary = tool("run_pipeline").main(args)
    printed = capsys.readouterr()
    assert summary["audio"]["audio_iters"] == 1
    assert "mmengine - INFO" not in printed.out + printed.err and "Hooks will be executed" not in printed.out
    assert "[audio] " in printed.out and f"full log (mmengine, warnings): {work}/run_pipeline.log" in printed.out
    assert "audio encoder: 100%" in printed.err  # the stage's progress bar
    log = open(os.path.join(work, "run_pipeline.log")).read()
    assert "Hooks will be executed in the following order" in log and "Config:" in log
    # the run's dumped config builds elsewhere: it imports the progress hook's module
    dumped = [f for f in os.listdir(os.path.join(work, "audio_classifier")) if f.endswith(".py")]
    cfg = Config.fromfile(os.path.join(work, "audio_classifier", dumped[0]))
    assert "mmseg_plugin.progress_hook" in cfg.custom_imports["imports"]


def test_resolve_model_from_a_work_dir(tmp_path):
    from mmseg_plugin.apis import resolve_model

    run = tmp_path / "job" / "ddeseg"
    run.mkdir(parents=True)
    (run / "cfg.py").write_text("x = 1\n")
    with pytest.raises(FileNotFoundError, match="no best_.*pth and no last_checkpoint"):
        resolve_model(str(tmp_path / "job"))
    (run / "last_checkpoint").write_text(str(run / "iter_4.pth"))
    assert resolve_model(str(tmp_path / "job")) == (str(run / "cfg.py"), str(run / "iter_4.pth"))
    (run / "best_J&F_iter_2.pth").write_bytes(b"")
    assert resolve_model(str(run))[1] == str(run / "best_J&F_iter_2.pth")
    assert resolve_model(str(run), "other.pth")[1] == "other.pth"
    with pytest.raises(ValueError, match="pass its checkpoint"):
        resolve_model(str(run / "cfg.py"))
