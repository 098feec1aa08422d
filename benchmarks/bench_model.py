"""CPU forward time and peak memory of one 224x224 frame through a DDESeg configuration (default: the paper's
MiT-B5 + HTSAT).

Usage: ``python benchmarks/bench_model.py [--preset paper-mit_b5-htsat] [--repeats 3] [--threads N]``

Peak memory is the process's maximum resident set size (``resource.getrusage``), reported after building the model
and after the forward passes; the forward's share is the difference. Random weights and a random [71, 5, d] memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from ddeseg_layers.memory import SemanticMemory
from ddeseg_layers.model import PRESETS, build_ddeseg


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="paper-mit_b5-htsat", choices=sorted(PRESETS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_ddeseg(args.preset).eval()
    build_s = time.perf_counter() - t0
    mem = model.memory
    model.set_memory(SemanticMemory.from_official(torch.randn(mem.num_classes, mem.num_reps, model.audio_dim)))
    rss_built = _peak_mib()
    img = torch.randn(1, 3, args.size, args.size)
    sr = getattr(model.audio, "sample_rate", None)
    audio = torch.randn(1, sr) * 0.1 if sr else torch.randn(1, model.audio_dim)
    times = []
    with torch.inference_mode():
        model(img, audio)  # warm-up
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = model(img, audio)
            times.append(time.perf_counter() - t)
    rss_peak = _peak_mib()
    result = dict(
        preset=args.preset,
        input=[1, 3, args.size, args.size],
        output=list(out.shape),
        threads=torch.get_num_threads(),
        build_s=round(build_s, 2),
        forward_s_median=round(sorted(times)[len(times) // 2], 3),
        forward_s_min=round(min(times), 3),
        peak_rss_after_build_mib=round(rss_built, 1),
        peak_rss_after_forward_mib=round(rss_peak, 1),
        forward_extra_mib=round(rss_peak - rss_built, 1),
        params_total=sum(p.numel() for p in model.parameters()),
        params_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
