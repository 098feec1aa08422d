"""Errors under load: a bad frame / label / audio file names the file and the dataset index, in the transform, out of a
DataLoader with 2 persistent workers, and in a 2-process torchrun training where only rank 1 meets it (both ranks end,
non-zero, with the error, in bounded time)."""

import faulthandler
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.mmseg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def tiny(tmp_path, tool, tiny_synthetic_config):
    """(config object, data root) of a freshly generated tiny synthetic set."""
    from mmengine.config import Config

    from mmseg_plugin.apis.scope import import_plugin

    import_plugin()
    from mmseg_plugin.synthetic import generate_synthetic_avs

    path = tiny_synthetic_config(tmp_path)
    cfg = Config.fromfile(path)
    ds = cfg.train_dataloader.dataset
    generate_synthetic_avs(ds.data_root, seed=ds.seed, **ds.generator)
    return path, cfg, ds.data_root


def _items(cfg, split="train"):
    from mmseg.registry import DATASETS

    ds_cfg = cfg[f"{split}_dataloader"].dataset.to_dict()
    ds_cfg["pipeline"] = []
    ds = DATASETS.build(ds_cfg)
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_transform_errors_name_file_index_clip_and_frame(tiny, tmp_path):
    from mmseg_plugin.audio_io import AudioReadError
    from mmseg_plugin.datasets.palette import LabelDecodeError
    from mmseg_plugin.datasets.transforms.loading import (
        LoadAudioWindow,
        LoadAVSAnnotations,
        LoadAVSImageFromFile,
        image_file_truncation,
    )

    _, cfg, _ = tiny
    items = _items(cfg)
    item = dict(items[7], sample_idx=7)
    where = f"dataset item 7 (clip '{item['clip_id']}', frame {item['frame_index']})"
    good = LoadAVSImageFromFile()(dict(item))
    assert good["img"].shape == (32, 32, 3) and image_file_truncation(item["img_path"]) is None

    missing = dict(item, img_path=str(tmp_path / "gone.jpg"))
    with pytest.raises(FileNotFoundError) as e:
        LoadAVSImageFromFile()(missing)
    assert str(e.value).startswith(f"LoadAVSImageFromFile: {where}: ") and "gone.jpg" in str(e.value)

    data = open(item["img_path"], "rb").read()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    assert "truncated" in image_file_truncation(str(trunc))
    with pytest.raises(OSError, match=rf"dataset item 7 .*JPEG file {trunc} is truncated"):
        LoadAVSImageFromFile()(dict(item, img_path=str(trunc)))
    # without the check, mmcv's decoder (OpenCV 5.1 here) gives no image: still an OSError naming item and file
    with pytest.raises(OSError, match=rf"dataset item 7 .*failed to load image: {trunc} \(not a decodable image\)"):
        LoadAVSImageFromFile(check_complete=False)(dict(item, img_path=str(trunc)))

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(OSError, match=rf"{where.replace('(', '[(]').replace(')', '[)]')}: failed to load image.*junk"):
        LoadAVSImageFromFile()(dict(item, img_path=str(junk)))

    rgb = np.asarray(Image.open(item["seg_map_path"]).convert("RGB")).copy()
    rgb[0, 0] = (7, 7, 7)
    bad_label = tmp_path / "label.png"
    Image.fromarray(rgb).save(bad_label)
    with pytest.raises(LabelDecodeError) as e:
        LoadAVSAnnotations()(dict(item, seg_map_path=str(bad_label)))
    assert f"LoadAVSAnnotations: {where}: {bad_label}: colour (7, 7, 7)" in str(e.value)

    bad_audio = tmp_path / "audio.wav"
    bad_audio.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(AudioReadError) as e:
        LoadAudioWindow()(dict(item, audio_path=str(bad_audio)))
    assert str(e.value).startswith(f"LoadAudioWindow: {where}: cannot decode audio file {bad_audio}")
    with pytest.raises(FileNotFoundError, match=rf"LoadAudioWindow: dataset item 7 .*{tmp_path}/nope\.wav"):
        LoadAudioWindow()(dict(item, audio_path=str(tmp_path / "nope.wav")))


def _persistent_loader(cfg, pipeline=None):
    from mmengine.runner import Runner

    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg.update(
        num_workers=2, persistent_workers=True, batch_size=2, sampler=dict(type="DefaultSampler", shuffle=False)
    )
    if pipeline is not None:
        loader_cfg["dataset"]["pipeline"] = pipeline
    return Runner.build_dataloader(loader_cfg, seed=0)


def _drain(loader, epochs=2):
    for _ in range(epochs):
        for _ in loader:
            pass


def test_persistent_worker_errors_carry_file_and_index(tiny):
    from mmseg_plugin.audio_io import AudioReadError

    _, cfg, _ = tiny
    items = _items(cfg)
    last = len(items) - 1
    faulthandler.dump_traceback_later(120, exit=True)  # a hung worker shutdown fails loudly instead of forever
    try:
        # the config's own pipeline: a corrupt audio file of the last item's clip
        audio = items[last]["audio_path"]
        first_of_clip = min(i for i, it in enumerate(items) if it["audio_path"] == audio)
        with open(audio, "r+b") as f:
            f.truncate(30)
        loader = _persistent_loader(cfg)
        with pytest.raises(AudioReadError) as e:
            _drain(loader)
        msg = str(e.value)
        assert "in DataLoader worker process" in msg  # re-raised by the main process with the worker's text
        assert f"LoadAudioWindow: dataset item {first_of_clip} (clip '{items[last]['clip_id']}'" in msg
        assert f"cannot decode audio file {audio}" in msg
        del loader

        # a later frame (of an earlier clip) deleted, read by the frame loader that names the item
        victim = items[first_of_clip - 1]
        assert victim["clip_id"] != items[last]["clip_id"] and first_of_clip - 1 > 2
        os.remove(victim["img_path"])
        pipeline = [dict(t) for t in cfg.train_dataloader.dataset.pipeline]
        assert pipeline[0]["type"] == "LoadAVSImageFromFile"  # the shipped configs' frame loader
        loader = _persistent_loader(cfg, pipeline)
        with pytest.raises(FileNotFoundError) as e:
            _drain(loader)
        msg = str(e.value)
        assert "in DataLoader worker process" in msg
        assert f"LoadAVSImageFromFile: dataset item {first_of_clip - 1} (clip '{victim['clip_id']}', frame " in msg
        assert victim["img_path"] in msg
        del loader
    finally:
        faulthandler.cancel_dump_traceback_later()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _live_processes_with(text: str):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append((int(pid), cmd))
    return found


@pytest.mark.slow
def test_two_ranks_one_rank_fails_both_end_with_the_error(tiny, tmp_path):
    """Only rank 1 reads train item 1 (unshuffled InfiniteSampler: rank r takes r, r + 2, ...); its label is corrupt.
    Rank 0 trains on and blocks in DDP's all-reduce; the run must end, non-zero, naming the file, well within the
    gloo timeout set by the config (60 s), and leave no rank behind."""
    cfg_path, cfg, _ = tiny
    items = _items(cfg)
    bad = items[1]["seg_map_path"]
    rgb = np.asarray(Image.open(bad).convert("RGB")).copy()
    rgb[2, 2] = (7, 7, 7)
    Image.fromarray(rgb).save(bad)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    work = str(tmp_path / "work")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port())]
    cmd += [os.path.join(REPO, "tools", "train.py"), cfg_path, "--work-dir", work, "--max-iters", "4"]
    cmd += ["--launcher", "pytorch", "--cfg-options", "model.net.derivation.enabled=False"]
    cmd += ["train_dataloader.sampler.shuffle=False", "train_dataloader.num_workers=2"]
    cmd += ["train_dataloader.persistent_workers=True", "env_cfg.dist_cfg.timeout=60"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=400)
    elapsed = time.monotonic() - t0
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-4000:]
    assert f"LoadAVSAnnotations: dataset item 1 (clip '{items[1]['clip_id']}', frame" in out, out[-4000:]
    assert f"{bad}: colour (7, 7, 7)" in out
    # the launcher's summary names the failed rank's error (recorded for torchrun by tools/train.py)
    summary = out[out.rfind("Root Cause") :]
    assert "rank      : 1" in summary and "LabelDecodeError" in summary and bad in summary, out[-4000:]
    assert elapsed < 200, elapsed
    time.sleep(1)
    assert _live_processes_with(cfg_path) == []


def test_cpu_process_group_timeout_from_config():
    import datetime

    from mmengine.config import Config

    from mmseg_plugin.apis import distributed as train

    assert train.dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(backend="gloo", timeout=60))))) == (
        datetime.timedelta(seconds=60)
    )
    assert train.dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(backend="gloo"))))) is None
    assert train.dist_timeout(Config(dict())) is None
    with pytest.raises(ValueError, match="timeout must be > 0"):
        train.dist_timeout(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=0)))))
