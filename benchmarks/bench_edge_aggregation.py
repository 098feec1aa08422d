"""Benchmark of edge_aggregate (DynamicDerivation eqs. 5-6 / 9-10): literal reference vs factorised PyTorch vs
fused Triton, forward and forward+backward.

Sizes: paper (N = 50..500 frames, K = 5 derived tokens, C = 71 classes, R = 5..64 reps, d = 768) for step 2
(inter-class: Q = N queries, memory = centroids [C, 1, d], G = K, reduce=False) and step 3 (intra-class:
Q = N*K queries, memory = reps [C, R, d], G = 1, reduce=True); scaled (R up to 1024, d up to 1024, step 3).

Reported per (case, backend, mode): median time (ms), ratio to the reference, saved-activation bytes (what
autograd keeps for the backward, measured with saved_tensors_hooks), CUDA peak memory above the inputs, and on
CUDA the fused kernel alone (P, U precomputed): its time, the bytes it reads and writes (gathered P rows, U, w,
index, output), the achieved GB/s against the card's peak and, for comparison, the time of the same launchers
with one program per query (``splits=1``, no J split) (H100 SXM 3.35 TB/s, H100 PCIe 2.0 TB/s,
H200 4.8 TB/s; by torch.cuda.get_device_name). Gathered rows of P may be served from L2 (C*R*d is small), so
this is an effective bandwidth of the kernel's logical traffic.

Usage:
    PYTHONPATH=$PWD python3 benchmarks/bench_edge_aggregation.py [--device cpu|cuda] [--quick] [--json OUT]
        [--markdown OUT] [--dtypes float32,bfloat16] [--reps N] [--splits-sweep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ddeseg_layers.ops.edge_aggregation import edge_aggregate
from ddeseg_layers.ops.edge_aggregation.op import edge_aggregate_fused
from ddeseg_layers.ops.edge_aggregation.torch_impl import project_memory, project_query

NUM_CLASSES = 71
K = 5

PEAK_BW = [("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100", 2.0e12)]


def cases(device: str, quick: bool, frames=None, paper_only: bool = False) -> list:
    """(name, Q, C, R, G, d, reduce) tuples."""
    out = []
    frames = frames or ([50] if quick else [50, 500])
    reps = [5, 64]
    for n in frames:
        out.append((f"paper step2 N={n} K={K} d=768", n, NUM_CLASSES, 1, K, 768, False))
        for r in reps:
            out.append((f"paper step3 N={n} K={K} R={r} d=768", n * K, NUM_CLASSES, r, 1, 768, True))
    if device == "cuda" and not paper_only:
        for r, d in [(256, 1024), (1024, 1024)] if quick else [(256, 768), (256, 1024), (1024, 768), (1024, 1024)]:
            out.append((f"scaled step3 N=50 K={K} R={r} d={d}", 50 * K, NUM_CLASSES, r, 1, d, True))
        if not quick:
            out.append((f"scaled step3 N=500 K={K} R=1024 d=1024", 500 * K, NUM_CLASSES, 1024, 1, 1024, True))
    return out


def make_inputs(Q, C, R, G, d, dtype, device, requires_grad):
    g = torch.Generator().manual_seed(0)
    t = {
        "query": torch.randn(Q, d, generator=g),
        "memory": torch.randn(C, R, d, generator=g),
        "weight": torch.randn(d, d, generator=g) / d**0.5,
        "bias": 0.1 * torch.randn(d, generator=g),
        "score_weight": torch.randn(d, generator=g) / d**0.5,
    }
    t = {k: v.to(device=device, dtype=dtype).requires_grad_(requires_grad) for k, v in t.items()}
    t["index"] = torch.randint(0, C, (Q, G), generator=g).to(device)
    return t


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_fn(fn, device, reps, warmup=1):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(reps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def saved_activation_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for the backward of fn().

    A saved tensor without a plain storage (e.g. a wrapper subclass) cannot be measured; it is counted and reported
    on stderr instead of being dropped silently.
    """
    seen = {}
    unmeasured = []

    def pack(t):
        if isinstance(t, torch.Tensor):
            try:
                st = t.untyped_storage()
                seen[(st.data_ptr(), t.device)] = st.nbytes()
            except (RuntimeError, NotImplementedError):
                unmeasured.append(type(t).__name__)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    if unmeasured:
        print(
            f"saved_activation_bytes: {len(unmeasured)} saved tensor(s) without a measurable storage "
            f"({sorted(set(unmeasured))}) are not counted",
            file=sys.stderr,
        )
    return sum(seen.values())


def kernel_bytes(Q, C, R, G, d, reduce, elt) -> int:
    J = G * R
    read = Q * J * d * elt + Q * d * elt + d * elt + Q * G * 8
    write = (Q * d if reduce else Q * J * d) * elt + Q * 8
    return read + write


def peak_bandwidth(device):
    if device != "cuda":
        return None, None
    name = torch.cuda.get_device_name()
    for key, bw in PEAK_BW:
        if key in name:
            return name, bw
    return name, None


def run_case(case, backend, mode, dtype, device, reps):
    name, Q, C, R, G, d, reduce = case
    needs_grad = mode == "fwd+bwd"
    t = make_inputs(Q, C, R, G, d, dtype, device, needs_grad)
    args = [t[k] for k in ("query", "memory", "index", "weight", "bias", "score_weight")]
    leaves = [t[k] for k in ("query", "memory", "weight", "bias", "score_weight")]

    def fwd():
        return edge_aggregate(*args, reduce, backend=backend)

    def fwd_bwd():
        out = fwd()
        torch.autograd.backward(out, torch.ones_like(out))
        for x in leaves:
            x.grad = None

    fn = fwd_bwd if needs_grad else fwd
    row = {"case": name, "backend": backend, "mode": mode, "dtype": str(dtype).replace("torch.", "")}
    try:
        if device == "cuda":
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        if needs_grad:
            row["saved_bytes"] = saved_activation_bytes(fwd)
        row["ms"] = time_fn(fn, device, reps)
        if device == "cuda":
            row["peak_bytes"] = torch.cuda.max_memory_allocated() - base
        if backend == "triton" and mode == "fwd":
            with torch.no_grad():
                P = project_memory(t["memory"], t["weight"])
                U = project_query(t["query"], t["weight"], t["bias"])
            kms = time_fn(lambda: edge_aggregate_fused(P, U, t["index"], t["score_weight"], None, reduce), device, reps)
            nbytes = kernel_bytes(Q, C, R, G, d, reduce, P.element_size())
            row["kernel_ms"] = kms
            row["kernel_bytes"] = nbytes
            row["kernel_GBps"] = nbytes / (kms * 1e-3) / 1e9
            # the same launchers with one program per query (no J split): what the split buys
            from ddeseg_layers.ops.edge_aggregation import triton_kernels

            row["kernel_unsplit_ms"] = time_fn(
                lambda: triton_kernels.fused_forward(P, U, t["index"], t["score_weight"], None, reduce, splits=1),
                device,
                reps,
            )
    except torch.OutOfMemoryError:
        row["error"] = "out of memory"
    except RuntimeError as exc:  # e.g. a backend refusing the inputs
        row["error"] = str(exc).splitlines()[0][:200]
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


def _time_split(tk, tensors, config, device, reps):
    """(forward ms, forward+backward ms) of the Triton launchers with a fixed number of J splits, tile height and
    warps per program (None = the launchers' choice), and the atomic or the deterministic (per-edge buffer +
    index_put_) dP reduction: what the atomics cost."""
    P, U, idx, w = tensors
    splits, block_j, num_warps, deterministic = config
    opts = {"splits": splits, "block_j": block_j, "num_warps": num_warps}

    def fwd():
        return tk.fused_forward(P, U, idx, w, None, True, **opts)

    def fwd_bwd():
        out, stats = fwd()
        go = torch.ones_like(out)
        return tk.fused_backward(go, out, stats, P, U, idx, w, None, True, deterministic=deterministic, **opts)

    return time_fn(fwd, device, reps), time_fn(fwd_bwd, device, reps)


def splits_sweep(device, dtypes, reps) -> str:
    """Fused kernels alone (forward, and forward+backward launchers) at the scaled step-3 sizes for several fixed
    numbers of J splits per query and the automatic plan, and for a few tile heights BLOCK_J (forward and backward
    alike): the data for tuning ``TARGET_PROGRAMS`` and ``block_sizes``."""
    from ddeseg_layers.ops.edge_aggregation import triton_kernels as tk

    lines = [
        "| case | dtype | splits | BLOCK_J fwd / bwd | warps | dP | programs | fwd ms | fwd GB/s | fwd+bwd ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    # (splits, BLOCK_J, num_warps, deterministic dP); None = the launchers' choice
    configs = [(n, None, None, False) for n in (1, 2, 4, 8, 16, None)]
    configs += [(None, 2, None, False), (None, 4, None, False), (None, 16, None, False), (None, None, 4, False)]
    configs += [(None, None, 16, False), (None, 4, 4, False), (None, 2, 4, False), (None, None, None, True)]
    for dtype in dtypes:
        for Q, R, d in [(250, 256, 1024), (250, 1024, 1024), (2500, 1024, 1024)]:
            t = make_inputs(Q, NUM_CLASSES, R, 1, d, dtype, device, False)
            with torch.no_grad():
                P = project_memory(t["memory"], t["weight"])
                U = project_query(t["query"], t["weight"], t["bias"])
            idx, w = t["index"], t["score_weight"]
            for config in configs:
                splits, block_j, num_warps, deterministic = config
                bj_f = block_j or tk.block_sizes(R, d)[0]
                bj_b = block_j or tk.block_sizes(R, d, backward=True)[0]
                warps = num_warps or tk.block_sizes(R, d)[2]
                nsplit = tk.split_plan(Q, R, bj_f, splits)[0]
                head = f"| Q={Q} R={R} d={d} | {str(dtype).replace('torch.', '')} | {splits or 'auto'} | "
                head += f"{bj_f} / {bj_b} | {warps} | {'buffer' if deterministic else 'atomic'} | {Q * nsplit} | "
                try:
                    fms, bms = _time_split(tk, (P, U, idx, w), config, device, reps)
                except Exception as exc:  # e.g. out of resources for a large tile: report the row, go on
                    lines.append(head + f"{exc!r:.80} |||")
                    print(lines[-1], flush=True)
                    continue
                gbps = kernel_bytes(Q, NUM_CLASSES, R, 1, d, True, P.element_size()) / (fms * 1e-3) / 1e9
                lines.append(head + f"{fms:.3f} | {gbps:.0f} | {bms:.3f} |")
                print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def to_markdown(rows, meta) -> str:
    lines = [
        f"device: {meta['device_name']}; torch {meta['torch']}; {meta['date']}",
        "",
        "| case | dtype | mode | backend | median ms | x ref | saved MB | peak MB | kernel ms | kernel GB/s | % peak "
        "| unsplit kernel ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v, spec):
        return "" if v is None else format(v, spec)

    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['dtype']} | {r['mode']} | {r['backend']} | {r['error']} |||||||| ")
            continue
        mb = {k: (None if r.get(k) is None else r[k] / 2**20) for k in ("saved_bytes", "peak_bytes")}
        pct = None
        if r.get("kernel_GBps") is not None and meta.get("peak_bw"):
            pct = 100 * r["kernel_GBps"] * 1e9 / meta["peak_bw"]
        lines.append(
            f"| {r['case']} | {r['dtype']} | {r['mode']} | {r['backend']} | {fmt(r['ms'], '.2f')} | "
            f"{fmt(r.get('speedup_vs_reference'), '.1f')} | {fmt(mb['saved_bytes'], '.1f')} | "
            f"{fmt(mb['peak_bytes'], '.1f')} | {fmt(r.get('kernel_ms'), '.3f')} | {fmt(r.get('kernel_GBps'), '.0f')} | "
            f"{fmt(pct, '.0f')} | {fmt(r.get('kernel_unsplit_ms'), '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--quick", action="store_true", help="fewer sizes (N=50 only)")
    p.add_argument("--json", type=Path, default=None, help="write rows + metadata as JSON here")
    p.add_argument("--markdown", type=Path, default=None, help="write a markdown table here")
    p.add_argument("--dtypes", default=None, help="comma list; default float32 (cpu), float32,bfloat16 (cuda)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 3 on cpu, 20 on cuda)")
    p.add_argument("--frames", default=None, help="comma list of N for the paper sizes (default 50 / 50,500)")
    p.add_argument("--paper-only", action="store_true", help="skip the scaled sizes")
    p.add_argument("--backends", default=None, help="comma list; default reference,torch(,triton on cuda)")
    p.add_argument("--splits-sweep", action="store_true", help="(cuda) time the Triton kernels per number of J splits")
    a = p.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    dtypes = a.dtypes or ("float32,bfloat16" if a.device == "cuda" else "float32")
    dtypes = [getattr(torch, x.strip()) for x in dtypes.split(",")]
    reps = a.reps or (20 if a.device == "cuda" else 3)
    backends = (a.backends or ("reference,torch,triton" if a.device == "cuda" else "reference,torch")).split(",")
    name, peak = peak_bandwidth(a.device)
    meta = {
        "device": a.device,
        "device_name": name or f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads",
        "peak_bw": peak,
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": a.quick,
        "reps": reps,
    }
    if a.splits_sweep:
        if a.device != "cuda":
            p.error("--splits-sweep needs --device cuda")
        md = splits_sweep(a.device, dtypes, reps)
        print(md)
        if a.markdown:
            a.markdown.parent.mkdir(parents=True, exist_ok=True)
            a.markdown.write_text(md)
        return 0
    rows = []
    for dtype in dtypes:
        frames = [int(x) for x in a.frames.split(",")] if a.frames else None
        for case in cases(a.device, a.quick, frames, a.paper_only):
            for mode in ("fwd", "fwd+bwd"):
                ref_ms = None
                for backend in backends:
                    row = run_case(case, backend, mode, dtype, a.device, reps)
                    if backend == "reference":
                        ref_ms = row.get("ms")
                    if ref_ms is not None and row.get("ms"):
                        row["speedup_vs_reference"] = ref_ms / row["ms"]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    md = to_markdown(rows, meta)
    print(md)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
