"""Sanity probe of a generated harder synthetic set (docs/datasets.md, "The harder synthetic set").

    python tools/synthetic_hard_probe.py data/synthetic_hard [--epochs 12] [--threads 1] [--out probe.json]

1. **Disjointness**: every clip uses only its own split's voices and object instances, and no voice or instance
   parameter set occurs in two splits (from ``clips.json`` / ``sources.json``).
2. **Order-free audio probe**: logistic regression on per-window order-free statistics of the log-mel spectrogram
   (mean and standard deviation over time of 64 log-mel bands: pitch, timbre, loudness) of the 1-s windows. Trained
   on train, reported on test: single-source windows' class accuracy (chance 1 / K) and the multi-label mAP of all
   val windows (labels: every audible class, off-screen included).
3. **Colour probe**: logistic regression on each visible object's colour statistics (frame 0): train -> test class
   accuracy (chance 1 / K): colour belongs to the instance, not the class.
4. **Temporal audio probe**: a small log-mel CNN (3 conv blocks, then a temporal conv and max over time; torch) trained
   for ``--epochs`` epochs on the same train windows (multi-label BCE); the same two figures.

Log-mel: torchaudio ``MelSpectrogram`` (25-ms window, 10-ms hop, 64 bands, 60-7800 Hz), log(x + 1e-6), per-window mean
removed. Prints one JSON document (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Tuple

import numpy as np


def check_disjoint(root: str) -> Dict[str, object]:
    """Voices / instances used per split, and whether any is shared (by id or by parameters) across splits."""
    with open(os.path.join(root, "clips.json"), encoding="utf-8") as f:
        clips = json.load(f)
    with open(os.path.join(root, "sources.json"), encoding="utf-8") as f:
        sources = json.load(f)
    used: Dict[str, Dict[str, set]] = {}
    for rec in clips.values():
        u = used.setdefault(rec["split"], dict(voices=set(), instances=set()))
        for o in rec["objects"]:
            u["instances"].add(o["instance"])
            if o["voice"] is not None:
                u["voices"].add(o["voice"])
        if rec["offscreen"] is not None:
            u["voices"].add(rec["offscreen"]["voice"])
    problems = []
    for split, u in used.items():
        for kind in ("voices", "instances"):
            foreign = sorted(i for i in u[kind] if i not in sources[kind][split])
            if foreign:
                problems.append(f"{split} clips use {kind} of another split: {foreign[:5]}")
    for kind in ("voices", "instances"):
        seen: Dict[str, str] = {}
        for split, pool in sources[kind].items():
            for pid, params in pool.items():
                key = json.dumps(params, sort_keys=True)
                if key in seen and seen[key] != split:
                    problems.append(f"{kind} {pid} ({split}) has the parameters of one in {seen[key]}")
                seen[key] = split
    return dict(
        used={s: {k: len(v) for k, v in u.items()} for s, u in sorted(used.items())},
        pools={kind: {s: len(p) for s, p in sources[kind].items()} for kind in ("voices", "instances")},
        disjoint=not problems,
        problems=problems,
    )


def colour_probe(root: str) -> Dict[str, float]:
    """Logistic regression on each visible object's colour statistics (mean and std of RGB over its pixels in
    frame 0, from ``labels_visible``): train -> test class accuracy. Near chance means colour is not the class."""
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    with open(os.path.join(root, "clips.json"), encoding="utf-8") as f:
        clips = json.load(f)
    xs: Dict[str, list] = {}
    for uid, rec in sorted(clips.items()):
        if rec["split"] not in ("train", "test"):
            continue
        d = os.path.join(root, rec["subset"], uid)
        img = np.asarray(Image.open(os.path.join(d, "frames", "0.jpg")), dtype=np.float64) / 255
        vis = np.asarray(Image.open(os.path.join(d, "labels_visible", "0.png")))
        for o in rec["objects"]:
            px = img[vis == o["cls"] + 1]
            if len(px) >= 20:
                xs.setdefault(rec["split"], []).append((np.concatenate([px.mean(0), px.std(0)]), o["cls"]))
    xtr, ytr = (np.array(v) for v in zip(*xs["train"]))
    xte, yte = (np.array(v) for v in zip(*xs["test"]))
    sc = StandardScaler().fit(xtr)
    clf = LogisticRegression(max_iter=3000).fit(sc.transform(xtr), ytr)
    return dict(test_object_accuracy=float((clf.predict(sc.transform(xte)) == yte).mean()), test_objects=len(yte))


def load_windows(root: str, num_classes: int, sr: int) -> Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per split: waveforms [N, sr], multi-hot audible classes [N, K] (off-screen included), single-source flag [N]."""
    import soundfile as sf

    with open(os.path.join(root, "clips.json"), encoding="utf-8") as f:
        clips = json.load(f)
    out: Dict[str, List[list]] = {}
    for uid, rec in sorted(clips.items()):
        path = os.path.join(root, rec["subset"], uid, "audio.wav")
        x, file_sr = sf.read(path, dtype="float32")
        if file_sr != sr:
            raise ValueError(f"{path}: sample rate {file_sr}, expected {sr}")
        srcs = [o for o in rec["objects"] if o["voice"] is not None] + ([rec["offscreen"]] if rec["offscreen"] else [])
        for t in range(len(x) // sr):
            y = np.zeros(num_classes, dtype=np.float32)
            for s in srcs:
                if s["active"][t]:
                    y[s["cls"]] = 1
            d = out.setdefault(rec["split"], [[], [], []])
            d[0].append(x[t * sr : (t + 1) * sr])
            d[1].append(y)
            d[2].append(y.sum() == 1)
    return {s: (np.stack(a), np.stack(b), np.asarray(c)) for s, (a, b, c) in out.items()}


def log_mel(wave: np.ndarray, sr: int):
    """[N, samples] -> float tensor [N, 64, frames]: log-mel minus each window's mean."""
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sr, n_fft=512, win_length=400, hop_length=160, f_min=60.0,
                                               f_max=7800.0, n_mels=64)  # fmt: skip
    with torch.no_grad():
        m = torch.log(mel(torch.from_numpy(wave)) + 1e-6)
    return m - m.mean(dim=(1, 2), keepdim=True)


def macro_map(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    cols = [k for k in range(y.shape[1]) if 0 < y[:, k].sum() < len(y)]
    return float(np.mean([average_precision_score(y[:, k], score[:, k]) for k in cols]))


def order_free_probe(feats: dict, data: dict) -> Dict[str, float]:
    """Logistic regression on [mean, std] over time of the log-mel bands."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def stats(m):
        return np.concatenate([m.mean(-1).numpy(), m.std(-1).numpy()], axis=1)

    xtr = stats(feats["train"])
    sc = StandardScaler().fit(xtr)
    ytr, single = data["train"][1], data["train"][2]
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(sc.transform(xtr[single]), ytr[single].argmax(1))
    xte, yte, ste = stats(feats["test"]), data["test"][1], data["test"][2]
    acc = float((clf.predict(sc.transform(xte[ste])) == yte[ste].argmax(1)).mean())
    xva, yva = sc.transform(stats(feats["val"])), data["val"][1]
    scores = np.stack(
        [LogisticRegression(max_iter=3000, C=1.0).fit(sc.transform(xtr), ytr[:, k]).decision_function(xva)
         for k in range(ytr.shape[1])], axis=1)  # fmt: skip
    return dict(test_single_source_accuracy=acc, val_map=macro_map(yva, scores))


def temporal_probe(feats: dict, data: dict, epochs: int, seed: int = 0) -> Dict[str, float]:
    """Small log-mel CNN (multi-label BCE on all train windows)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    k = data["train"][1].shape[1]

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(block(1, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 48))
            self.tconv = nn.Sequential(nn.Conv1d(48 * 16, 96, 5, padding=2), nn.ReLU())
            self.fc = nn.Linear(96, k)

        def forward(self, x):  # [B, 64, T]
            h = self.conv(x[:, None])  # [B, 48, 16, T/4]
            h = self.tconv(h.flatten(1, 2))  # [B, 96, T/4]
            return self.fc(h.amax(-1))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xtr, ytr = feats["train"], torch.from_numpy(data["train"][1])
    n = len(xtr)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n)
        for i in range(0, n, 32):
            idx = perm[i : i + 32]
            shift = int(torch.randint(0, xtr.shape[-1], ()))
            loss = nn.functional.binary_cross_entropy_with_logits(net(xtr[idx].roll(shift, -1)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        sva = torch.cat([net(feats["val"][i : i + 256]) for i in range(0, len(feats["val"]), 256)]).numpy()
        ste = torch.cat([net(feats["test"][i : i + 256]) for i in range(0, len(feats["test"]), 256)]).numpy()
    yte, single = data["test"][1], data["test"][2]
    acc = float((ste[single].argmax(1) == yte[single].argmax(1)).mean())
    return dict(test_single_source_accuracy=acc, val_map=macro_map(data["val"][1], sva), epochs=epochs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="a generated harder synthetic set (holding clips.json and sources.json)")
    ap.add_argument("--epochs", type=int, default=12, help="CNN training epochs over the train windows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write the JSON report here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    for name in ("clips.json", "sources.json", "synthetic_manifest.json"):
        if not os.path.isfile(os.path.join(args.root, name)):
            print(f"{args.root}: no {name}; not a set of the harder synthetic preset", file=sys.stderr)
            return 2
    with open(os.path.join(args.root, "synthetic_manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    k, sr = int(man["num_classes"]), int(man["sample_rate"])
    t0 = time.perf_counter()
    report: Dict[str, object] = dict(
        root=args.root, seed=man["seed"], num_classes=k, disjoint=check_disjoint(args.root)
    )
    data = load_windows(args.root, k, sr)
    feats = {s: log_mel(w, sr) for s, (w, _, _) in data.items()}
    report["windows"] = {s: dict(all=len(d[0]), single_source=int(d[2].sum()), silent=int((d[1].sum(1) == 0).sum()))
                         for s, d in data.items()}  # fmt: skip
    prev = data["val"][1].mean(0)
    report["chance"] = dict(single_source_accuracy=1.0 / k, val_map=float(prev[(prev > 0) & (prev < 1)].mean()))
    t1 = time.perf_counter()
    report["order_free_logreg"] = order_free_probe(feats, data)
    report["colour_logreg"] = colour_probe(args.root)
    t2 = time.perf_counter()
    report["temporal_cnn"] = temporal_probe(feats, data, args.epochs)
    report["seconds"] = dict(load=round(t1 - t0, 1), logreg=round(t2 - t1, 1), cnn=round(time.perf_counter() - t2, 1))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if report["disjoint"]["disjoint"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
