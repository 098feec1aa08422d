"""CPU forward time and peak memory of one 224x224 frame through a DDESeg configuration (default: the paper's
MiT-B5 + HTSAT).

Usage: ``python benchmarks/bench_model.py [--preset paper-mit_b5-htsat] [--repeats 3] [--threads N]``
GPU: ``python benchmarks/bench_model.py --device cuda --batch 8 [--amp bf16] [--train]`` reports the median step
time (forward, or forward+backward with ``--train``) and ``torch.cuda.max_memory_allocated``.

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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    ap.add_argument("--train", action="store_true", help="time forward+backward (train mode) instead of inference")
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
    device = torch.device(args.device)
    model = model.to(device)
    B = args.batch
    img = torch.randn(B, 3, args.size, args.size, device=device)
    sr = getattr(model.audio, "sample_rate", None)
    audio = (torch.randn(B, sr) * 0.1 if sr else torch.randn(B, model.audio_dim)).to(device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step():
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(img, audio)
        if args.train:
            out.float().mean().backward()
        return out

    model.train(args.train)
    times = []
    ctx = torch.enable_grad() if args.train else torch.inference_mode()
    with ctx:
        step()  # warm-up
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = step()
            sync()
            times.append(time.perf_counter() - t)
    rss_peak = _peak_mib()
    result = dict(
        preset=args.preset,
        device=torch.cuda.get_device_name(device) if cuda else "cpu",
        mode="forward+backward" if args.train else "forward",
        amp=args.amp,
        input=[B, 3, args.size, args.size],
        output=list(out.shape),
        threads=torch.get_num_threads(),
        build_s=round(build_s, 2),
        forward_s_median=round(sorted(times)[len(times) // 2], 4),
        forward_s_min=round(min(times), 4),
        peak_rss_after_build_mib=round(rss_built, 1),
        peak_rss_after_forward_mib=round(rss_peak, 1),
        forward_extra_mib=round(rss_peak - rss_built, 1),
        cuda_peak_allocated_mib=round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if cuda else None,
        params_total=sum(p.numel() for p in model.parameters()),
        params_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
