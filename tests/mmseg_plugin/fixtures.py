"""Tiny fixture datasets in each real on-disk layout (AVSS, DDESeg re-layout, S4, MS3, VPO), written by tests.

Every frame's label map and every audio second have known content so tests can check decoding exactly:

- label of (clip c, frame i): background with a rectangle of class ``expected_class(c, i, n)`` (1..n-1);
- audio second i of a clip is the constant ``audio_level(i)`` (so a window's content identifies its second).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
from PIL import Image

H, W = 12, 16  # tiny frames


def voc_palette(n: int) -> np.ndarray:
    """Independent re-implementation of the VOC bit-interleave palette (to cross-check the plugin's)."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        bits = [(i >> k) & 1 for k in range(24)]
        r = sum(bits[3 * j] << (7 - j) for j in range(8))
        g = sum(bits[3 * j + 1] << (7 - j) for j in range(8))
        b = sum(bits[3 * j + 2] << (7 - j) for j in range(8))
        pal[i] = (r, g, b)
    return pal


def expected_class(clip_idx: int, frame: int, num_classes: int) -> int:
    return 1 + (clip_idx + frame) % (num_classes - 1)


def label_map(clip_idx: int, frame: int, num_classes: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=np.uint8)
    y0 = 1 + frame % 4
    m[y0 : y0 + 5, 2 + clip_idx % 5 : 9 + clip_idx % 5] = expected_class(clip_idx, frame, num_classes)
    return m


def audio_level(second: int) -> float:
    return round(0.05 * (second + 1), 4)


def write_audio(path: str, seconds: int, sr: int = 16000, channels: int = 1, subtype: str = "FLOAT") -> np.ndarray:
    """Each second s holds the constant audio_level(s) (channel k scaled by (k + 1)). Returns [C, N]."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    x = np.repeat([audio_level(s) for s in range(seconds)], sr).astype(np.float32)
    data = np.stack([x * (k + 1) for k in range(channels)])
    sf.write(path, data.T if channels > 1 else data[0], sr, subtype=subtype)
    return data


def write_frame(path: str, seed: int) -> np.ndarray:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, size=(H, W, 3), dtype=np.uint8)
    Image.fromarray(img).save(path)
    return img


def write_index_png(path: str, m: np.ndarray, mode: str = "P") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(m, mode="L")
    if mode == "P":
        img = img.convert("P")
        img.putpalette(voc_palette(256).reshape(-1).tolist())
    img.save(path)


def write_rgb_png(path: str, m: np.ndarray, num_classes: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(voc_palette(num_classes)[m], mode="RGB").save(path)


AVSS_CLASSES = ["background", "guitar", "dog", "emergency-car"]
# (uid, subset, split, a_obj)
AVSS_CLIPS: Tuple[Tuple[str, str, str, str], ...] = (
    ("vidA_0_5000", "v1s", "train", "guitar"),
    ("vidB_1", "v1m", "train", "dog_guitar"),
    ("vidC_0_10000", "v2", "train", "emergency-car"),
    ("vidD_0_5000", "v1s", "val", "dog"),
    ("vidE_0_10000", "v2", "test", "guitar"),
)
FRAMES = {"v1s": 5, "v1m": 5, "v2": 10}


def make_avss(root: str, semantic_mode: str = "P", audio_seconds: Dict[str, int] = None) -> Dict[str, int]:
    """AVSS official layout; v1s train clips get only frame 0's masks. Returns {uid: clip index}."""
    os.makedirs(root, exist_ok=True)
    n = len(AVSS_CLASSES)
    with open(os.path.join(root, "label2idx.json"), "w") as f:
        json.dump({c: i + 1 for i, c in enumerate(AVSS_CLASSES)}, f)
    with open(os.path.join(root, "metadata.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"])
        for uid, subset, split, a_obj in AVSS_CLIPS:
            w.writerow([uid.split("_")[0], uid, 0, 0, a_obj, split, subset])
    index = {}
    for c, (uid, subset, split, _) in enumerate(AVSS_CLIPS):
        index[uid] = c
        clip = os.path.join(root, subset, uid)
        T = FRAMES[subset]
        for i in range(T):
            write_frame(os.path.join(clip, "frames", f"{i}.jpg"), seed=100 * c + i)
            if subset == "v1s" and split == "train" and i > 0:
                continue
            m = label_map(c, i, n)
            write_rgb_png(os.path.join(clip, "labels_rgb", f"{i}.png"), m, n)
            write_index_png(os.path.join(clip, "labels_semantic", f"{i}.png"), m, semantic_mode)
        secs = (audio_seconds or {}).get(uid, T)
        write_audio(os.path.join(clip, "audio.wav"), secs)
    return index


def make_ddeseg(root: str) -> Dict[str, int]:
    """DDESeg per-frame re-layout (metadata_w_silent.csv with split at column 4, subset at column 5)."""
    os.makedirs(root, exist_ok=True)
    n = len(AVSS_CLASSES)
    with open(os.path.join(root, "label2idx.json"), "w") as f:
        json.dump({c: i + 1 for i, c in enumerate(AVSS_CLASSES)}, f)
    index = {}
    with open(os.path.join(root, "metadata_w_silent.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["vid", "uid", "s_min", "s_sec", "split", "label", "a_obj"])
        for c, (uid, subset, split, a_obj) in enumerate(AVSS_CLIPS):
            index[uid] = c
            T = 1 if (subset == "v1s" and split == "train") else FRAMES[subset]
            clip = os.path.join(root, subset, uid)
            for i in range(T):
                w.writerow([uid.split("_")[0], f"{uid}_{i}", 0, 0, split, subset, a_obj])
                write_frame(os.path.join(clip, "frames", f"{i}.jpg"), seed=100 * c + i)
                write_index_png(os.path.join(clip, "labels_semantic", f"{i}.png"), label_map(c, i, n), "L")
                os.makedirs(os.path.join(clip, "audios"), exist_ok=True)
                wav = np.full(16000, audio_level(i), dtype=np.float32)
                sf.write(os.path.join(clip, "audios", f"{i}.wav"), wav, 16000, subtype="FLOAT")
    return index


S4_CLIPS = (("clipA", "dog_barking", "train"), ("clipB", "male_speech", "val"), ("clipC", "dog_barking", "test"))


def binary_mask(clip_idx: int, frame: int) -> np.ndarray:
    return (label_map(clip_idx, frame, 3) > 0).astype(np.uint8)


def write_binary_png(path: str, m: np.ndarray, mode: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "1":
        Image.fromarray(m.astype(bool)).save(path)
    else:  # 'P' with 0/1 indices (MS3) or 'L' 0/255
        img = Image.fromarray(m * (255 if mode == "L" else 1), mode="L")
        if mode == "P":
            img = img.convert("P")
            img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        img.save(path)


def _write_pkl(path: str, tensor: torch.Tensor) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(tensor, f)


def log_mel_tensor(clip_idx: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(clip_idx)
    return torch.randn(5, 1, 96, 64, generator=g)


def make_s4(root: str) -> None:
    """S4 official layout (train: only <name>_1.png mask)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "s4_meta_data.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "start", "category", "split"])
        for name, cat, split in S4_CLIPS:
            w.writerow([name, 0, cat, split])
    for c, (name, cat, split) in enumerate(S4_CLIPS):
        d = os.path.join(root, "s4_data")
        for k in range(1, 6):
            write_frame(os.path.join(d, "visual_frames", split, cat, name, f"{name}_{k}.png"), seed=c * 10 + k)
            if split == "train" and k > 1:
                continue
            mpath = os.path.join(d, "gt_masks", split, cat, name, f"{name}_{k}.png")
            write_binary_png(mpath, binary_mask(c, k - 1), "1")
        write_audio(os.path.join(d, "audio_wav", split, cat, f"{name}.wav"), 5)
        _write_pkl(os.path.join(d, "audio_log_mel", split, cat, f"{name}.pkl"), log_mel_tensor(c))


MS3_CLIPS = (("msA", "train"), ("msB", "val"), ("msC", "test"))


def make_ms3(root: str) -> None:
    """MS3 official layout (frames without split folder, '<name>.mp4_<k>.png'; masks mode 'P')."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "ms3_meta_data.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "split"])
        for name, split in MS3_CLIPS:
            w.writerow([name, split])
    for c, (name, split) in enumerate(MS3_CLIPS):
        d = os.path.join(root, "ms3_data")
        for k in range(1, 6):
            write_frame(os.path.join(d, "visual_frames", name, f"{name}.mp4_{k}.png"), seed=c * 10 + k)
            write_binary_png(os.path.join(d, "gt_masks", split, name, f"{name}_{k}.png"), binary_mask(c, k - 1), "P")
        write_audio(os.path.join(d, "audio_wav", split, f"{name}.wav"), 5)
        _write_pkl(os.path.join(d, "audio_log_mel", split, f"{name}.pkl"), log_mel_tensor(c))


# VPO rows: (cateName, img_Id, ann_Ids, cateId, vgg_file, split, audio_pos, multi_instance)
VPO_ROWS: Dict[str, List[tuple]] = {
    "ss": [("dog", 11, 501, 18, "vggA", "train", 0.2, 0), ("male", 12, 502, 92, "vggB", "val", 0.7, 0)],
    "ms": [
        ("dog", 21, 601, 18, "vggA", "train", 0.2, 0),
        ("car", 21, 602, 3, "vggB", "train", 0.9, 0),
        ("cat", 22, 603, 17, "vggC", "val", 0.5, 0),
    ],
    "msmi": [("dog", 31, 701, 18, "vggA", "train", 0.3, 1), ("cat", 32, 702, 17, "vggC", "train", 0.6, 0)],
}
VPO_COCO = {"dog": 18, "car": 3, "cat": 17, "male": 92}


def vpo_raw_mask(img_id: int, cats: Sequence[str]) -> np.ndarray:
    m = np.zeros((H, W), dtype=np.uint8)
    for j, c in enumerate(cats):
        m[1 + 3 * j : 3 + 3 * j, 2 : 2 + 4 + img_id % 3] = VPO_COCO[c]
    m[-1, -1] = 255  # an ignore pixel
    return m


def make_vpo(root: str, setting: str, audio_seconds: float = 5.0) -> None:
    """VPO layout for one setting (CSV, VPO-*/data, VPO-*/mask, audios/<vgg_file>.wav mono 16 kHz)."""
    folder = {"ss": "VPO-SS", "ms": "VPO-MS", "msmi": "VPO-MSMI"}[setting]
    rows = VPO_ROWS[setting]
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, f"vpo_{setting}_data_stereo.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cateName", "img_Id", "ann_Ids", "cateId", "vgg_file", "split", "audio_pos", "multi_instance"])
        w.writerows(rows)
    by_img: Dict[int, List[str]] = {}
    for r in rows:
        by_img.setdefault(r[1], []).append(r[0])
    for r in rows:
        cat, img_id, ann_id, _, vgg, _, _, multi = r
        fold = "VPO-MS" if (setting == "msmi" and multi == 0) else folder
        write_frame(os.path.join(root, fold, "data", f"{img_id:012d}.jpg"), seed=img_id)
        if setting == "ss":
            mpath = os.path.join(root, fold, "mask", f"{img_id:012d}_{ann_id:012d}.png")
            write_index_png(mpath, vpo_raw_mask(img_id, [cat]), "L")
        else:
            mpath = os.path.join(root, fold, "mask", f"{img_id:012d}.png")
            write_index_png(mpath, vpo_raw_mask(img_id, by_img[img_id]), "L")
        sr = 16000
        n = int(audio_seconds * sr)
        os.makedirs(os.path.join(root, "audios"), exist_ok=True)
        sf.write(os.path.join(root, "audios", f"{vgg}.wav"), np.linspace(-0.5, 0.5, n, dtype=np.float32), sr,
                 subtype="FLOAT")  # fmt: skip
