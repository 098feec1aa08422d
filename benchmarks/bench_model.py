"""Whole-model benchmark of a DDESeg configuration, optionally side by side with the released code.

Single network (default: the paper's MiT-B5 + HTSAT)::

    python benchmarks/bench_model.py [--preset paper-mit_b5-htsat] [--repeats 3] [--threads N]
    python benchmarks/bench_model.py --device cuda --batch 8 [--amp bf16] [--train]

reports the median step time (forward, or forward+backward with ``--train``), the process's peak RSS (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA). Random weights and a random [71, 5, d] memory.

Against the release (``--against-official PATH``, PATH a checkout of github.com/YenanLiu/DDESeg: its ``models/``
and ``configs/`` are imported from there, nothing of it lives in this repository)::

    PYTHONPATH=SITE python benchmarks/bench_model.py --against-official PATH [--batch 2] [--size 224] [--rounds 5]
        [--threads 2] [--device cpu|cuda] [--amp bf16] [--compile] [--checkpoint-stages 3] [--isolated-memory]
        [--json out.json]

SITE holds the release's own dependencies (einops, torchlibrosa, librosa with numba; e.g.
``pip install --no-deps --target SITE einops torchlibrosa librosa numba llvmlite lazy_loader audioread soxr
decorator pooch msgpack``) and PyYAML must be importable. Steps:

1. build the released ``models.DDESeg`` from ``PATH/configs/ddeseg.yaml`` with seeded random weights; three
   adaptations, none touching its model code: its hard-coded HTS-AT checkpoint load returns an empty dict (loaded
   with ``strict=False``), its hard-coded bank path points at a random [71, 5, 768] bank, and the log-mel filterbank
   (all NaN for the yaml's fmin = fmax = 50; its checkpoint overwrites it) is set to the AudioSet one;
2. build ours (``build_ddeseg("official")`` with the release's 71-class HTS-AT head) and load the release's
   ``state_dict`` and bank into it (``load_official_ddeseg``): the same weights;
3. check that both compute the same eval logits (our ``stochastic_eval`` draws the release's eval Gumbel noise;
   both seeded alike) and report the max abs difference;
4. count the FLOPs of one training step of each (``torch.utils.flop_counter.FlopCounterMode``);
5. time, in alternating rounds (the order rotates every round): a large square matmul (this machine's matmul
   FLOP/s, in the matmul dtype of the step), the inference forward (eval, no_grad) and the training step (train mode,
   cross-entropy on the logits, backward, ``zero_grad``) of each network; report medians, ours/release ratios,
   achieved FLOP/s (counted FLOPs / median time) and its share of the matmul FLOP/s. By default
   (``--allocator steady``) the timed calls follow each other with the heap kept, as the steps of a training loop
   do; ``--allocator cold`` calls ``malloc_trim`` before every timed call (the method of the readings up to
   2026-12-06), which makes every call fault in all its memory again and costs the release, which allocates more,
   about 3 s of its 9 s step on a 2-core Zen 4 (ours about 0.4 s): that method overstated the speed-up;
6. memory: CPU: peak RSS during a call (sampled every 5 ms from /proc) and its rise over the RSS before the
   call, read on one extra untimed call per network after ``malloc_trim`` (steady) or on the timed calls (cold);
   with ``--isolated-memory`` also the peak RSS (sampled the same way) of a fresh process that builds one network
   alone (ours with random weights of the same shapes) and runs two training steps (what training that network
   costs, without the other network resident), once with the default allocator and once with glibc's mmap threshold
   fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_=65536``: every tensor buffer its own mapping, so the RSS follows the
   live allocations and not the heap's fragmentation);
   CUDA: ``max_memory_allocated`` during each call.

``--amp bf16`` runs our network under ``torch.autocast`` (the release stays fp32 unless ``--official-amp``);
``--compile`` wraps ours in ``torch.compile`` (compile time reported separately, excluded from the rounds;
``--compile-mode reduce-overhead`` lets inductor replay CUDA graphs on a GPU);
``--profile ROWS`` (single network) profiles one more step with ``torch.profiler`` and prints its costliest ops (self
device time on CUDA, self CPU time on the CPU) and the number of op calls, the launch count that small-op overhead
scales with;
``--checkpoint-stages 3`` builds ours with activation checkpointing of stage 3's blocks.
``--cuda-graphs`` (CUDA, training step): our training step (forward, loss, backward) is captured once as a CUDA graph
(whole-network capture after three warm-up steps on a side stream, autocast's weight cache off) and replayed with the
inputs copied into the captured buffers; the gradients land in the parameters' ``.grad`` at every replay (what
``zero_grad`` + ``backward`` leave). Shapes are static in this benchmark, so one graph serves every step. The
forward has no device -> host read that capture would forbid (``ddeseg_layers/host_sync.py``; the tests run a whole
training step on the ``meta`` device, which fails at any such read). Memory in this mode: the graph's private pool
(CUDA memory reserved by the capture) is reported, since a replay allocates nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from ddeseg_layers.memory import SemanticMemory
from ddeseg_layers.model import PRESETS, build_ddeseg, preset_config

NUM_CLASSES = 71
BANK_SHAPE = (71, 5, 768)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ----------------------------------------------------------------------------------------------- single network
def run_single(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    cfg = preset_config(args.preset)
    if args.checkpoint_stages:
        cfg["checkpoint_stages"] = args.checkpoint_stages
    model = build_ddeseg(cfg).eval()
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
    call = torch.compile(model, mode=args.compile_mode) if args.compile else model

    def sync():
        if cuda:
            torch.cuda.synchronize()

    model.train(args.train)
    # --cuda-graphs (checked in main: CUDA, --train): the captured step replaces the eager one
    graphed = GraphedTrainStep(model, img, audio, img[:, 0], amp_dtype, _mean_loss) if args.cuda_graphs else None

    def step():
        if graphed is not None:
            return graphed(img, audio, img[:, 0])
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = call(img, audio)
        if args.train:
            _mean_loss(out, None).backward()
            model.zero_grad(set_to_none=True)
        return out

    times = []
    ctx = torch.enable_grad() if args.train else torch.inference_mode()
    with ctx:
        for _ in range(2 if args.compile else 1):  # warm-up (compiled: the first calls may recompile once)
            step()
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = step()
            sync()
            times.append(time.perf_counter() - t)
    rss_peak = _peak_mib()
    profile_table = None
    if args.profile:
        profile_table = profile_step(step, cuda, args.profile, sync)
    result = dict(
        preset=args.preset,
        device=torch.cuda.get_device_name(device) if cuda else "cpu",
        mode="forward+backward" if args.train else "forward",
        amp=args.amp,
        compile=bool(args.compile),
        compile_mode=args.compile_mode,
        checkpoint_stages=args.checkpoint_stages,
        input=[B, 3, args.size, args.size],
        output=list(out.shape),
        cuda_graphs=bool(args.cuda_graphs),
        cuda_graph_pool_mib=round(graphed.pool_mib, 1) if graphed is not None else None,
        threads=torch.get_num_threads(),
        build_s=round(build_s, 2),
        forward_s_median=round(sorted(times)[len(times) // 2], 4),
        forward_s_min=round(min(times), 4),
        peak_rss_after_build_mib=round(rss_built, 1),
        peak_rss_after_forward_mib=round(rss_peak, 1),
        forward_extra_mib=round(rss_peak - rss_built, 1),
        cuda_peak_allocated_mib=round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if cuda else None,
        # with --cuda-graphs a replay allocates nothing: the step's memory is the graph's pool, inside the reserved
        cuda_reserved_mib=round(torch.cuda.memory_reserved(device) / 2**20, 1) if cuda else None,
        params_total=sum(p.numel() for p in model.parameters()),
        params_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )
    print(json.dumps(result, indent=1))
    if profile_table is not None:
        print(profile_table)
    return result


def profile_step(step, cuda: bool, rows: int, sync) -> str:
    """One more step under ``torch.profiler``: the ``rows`` costliest ops by self device time (CUDA) or self CPU
    time, and how many ops (CPU-side dispatches; on a GPU each is at least one kernel launch) the step runs."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        step()
        sync()
    ka = prof.key_averages()
    n_ops = sum(e.count for e in ka if e.key.startswith("aten::"))
    sort = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = ka.table(sort_by=sort, row_limit=rows, max_name_column_width=48)
    return f"profile of one step: {n_ops} aten op calls (nested calls included)\n{table}"


# ----------------------------------------------------------------------------------------------- the release
def _namespace(d: dict) -> types.SimpleNamespace:
    """The yaml as attribute namespaces (the release reads it through OmegaConf attribute access); its audio
    ``config`` block stays a dict, which the release indexes with ``[...]``."""
    return types.SimpleNamespace(
        **{k: (_namespace(v) if isinstance(v, dict) and k != "config" else v) for k, v in d.items()}
    )


def build_release(checkout: Path, work: Path, seed: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The released ``models.DDESeg`` from ``checkout`` with seeded random weights, and the random bank it holds."""
    import yaml

    checkout = checkout.resolve()
    if not (checkout / "models" / "DDESeg.py").is_file():
        raise SystemExit(f"bench_model: {checkout} is not a checkout of the release (no models/DDESeg.py)")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        import librosa
        from models import DDESeg as Release
    except ImportError as exc:
        raise SystemExit(
            f"bench_model: the release's dependencies are missing ({exc}); see the module docstring"
        ) from exc
    cfg = _namespace(yaml.safe_load((checkout / "configs" / "ddeseg.yaml").read_text()))
    g = torch.Generator().manual_seed(seed)
    bank = torch.randn(BANK_SHAPE, generator=g)
    bank_path = work / "bank.npy"
    import numpy as np

    np.save(bank_path, bank.numpy())
    cfg.align_model.avss_aud_bank = str(bank_path)
    cfg.align_model.vpo_aud_bank = str(bank_path)
    real_load = torch.load

    def no_checkpoint(path, *a, **k):  # its constructor loads a hard-coded HTS-AT checkpoint with strict=False
        if isinstance(path, str) and not os.path.exists(path) and path.endswith(".ckpt"):
            return {}
        return real_load(path, *a, **k)

    torch.manual_seed(seed)
    torch.load = no_checkpoint
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = Release(
                num_classes=cfg.num_classes,
                embedding_dim=cfg.seg_head.embedding_dim,
                audio_cfg=cfg.audio_model,
                visual_cfg=cfg.vis_model,
                av_cfg=cfg.align_model,
                visual_pretrain=None,
                seg_head_cfg=cfg.seg_head,
                task=cfg.task,
            )
    finally:
        torch.load = real_load
    # its yaml's fmin = fmax = 50 gives an all-NaN filterbank, which the HTS-AT checkpoint overwrites: use that one
    mel = librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000).T
    with torch.no_grad():
        model.audio_model.logmel_extractor.melW.copy_(torch.from_numpy(mel))
    return model, bank


def build_ours_like(release_sd: dict, bank: torch.Tensor, checkpoint_stages) -> torch.nn.Module:
    """Our official network with the release's weights and bank."""
    from ddeseg_layers.converters import load_official_ddeseg

    cfg = preset_config("official")
    cfg["audio"]["num_classes"] = NUM_CLASSES  # the release builds its HTS-AT with a 71-class head
    if checkpoint_stages:
        cfg["checkpoint_stages"] = list(checkpoint_stages)
    model = build_ddeseg(cfg)
    load_official_ddeseg(model, release_sd, bank=bank.numpy())
    return model


def set_stochastic_eval(model: torch.nn.Module, flag: bool) -> None:
    from ddeseg_layers.elimination import OfficialGumbelClustering

    for m in model.modules():
        if isinstance(m, OfficialGumbelClustering):
            m.stochastic_eval = flag


# ----------------------------------------------------------------------------------------------- measuring
class RSSPeak:
    """Peak resident set size (bytes) during a block, sampled from /proc/self/statm every ``interval`` s."""

    page = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, interval: float = 0.005):
        self.interval = interval

    @classmethod
    def rss(cls) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * cls.page

    def __enter__(self):
        self.start = self.peak = self.rss()
        self._stop = threading.Event()

        def poll():
            while not self._stop.is_set():
                self.peak = max(self.peak, self.rss())
                time.sleep(self.interval)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def _trim() -> None:
    gc.collect()
    if platform.system() == "Linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


class Net:
    """One network under test: how to call it, its inputs and autocast dtype."""

    def __init__(self, name, model, wav, amp_dtype, compiled=None):
        self.name, self.model, self.wav, self.amp_dtype = name, model, wav, amp_dtype
        self.call = model if compiled is None else compiled  # an OptimizedModule has no truth value
        self.graphed: GraphedTrainStep | None = None  # --cuda-graphs: the captured training step

    def autocast(self, device):
        return torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def fwd(self, img, device):
        self.model.eval()
        with torch.no_grad(), self.autocast(device):
            return self.call(img, self.wav)

    def train_step(self, img, target, device):
        self.model.train()
        if self.graphed is not None:
            return self.graphed(img, self.wav, target)
        with self.autocast(device):
            y = self.call(img, self.wav)
        loss = _ce_loss(y, target)
        loss.backward()
        self.model.zero_grad(set_to_none=True)
        return loss


class GraphedTrainStep:
    """``loss_fn(model(img, wav), target).backward()`` captured as one CUDA graph; ``__call__`` replays it.

    Whole-network capture as PyTorch's CUDA-graph notes describe it: ``warmup`` eager steps on a side stream (cuDNN /
    cuBLAS / cuFFT plans, the autograd engine's state), gradients set to None, then the capture; the gradients the
    captured backward allocates live in the graph's private pool and are rewritten at every replay. Autocast runs with
    ``cache_enabled=False`` (a cast cached across the capture's boundary would be stale). ``pool_mib``: the CUDA memory
    the capture reserved (the step's activations and gradients: a replay allocates nothing more).
    """

    def __init__(self, model, img, wav, target, amp_dtype, loss_fn, warmup: int = 3):
        if img.device.type != "cuda":
            raise ValueError(f"--cuda-graphs needs a CUDA device, got {img.device}")
        self.model, self.loss_fn, self.amp_dtype = model, loss_fn, amp_dtype
        self.static = [img.clone(), wav.clone(), target.clone()]
        dev = img.device
        model.train()
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                model.zero_grad(set_to_none=True)
                self._body()
        torch.cuda.current_stream(dev).wait_stream(side)
        torch.cuda.synchronize(dev)
        model.zero_grad(set_to_none=True)
        reserved = torch.cuda.memory_reserved(dev)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = self._body()
        torch.cuda.synchronize(dev)
        self.pool_mib = (torch.cuda.memory_reserved(dev) - reserved) / 2**20

    def _body(self) -> torch.Tensor:
        img, wav, target = self.static
        on = self.amp_dtype is not None
        with torch.autocast("cuda", dtype=self.amp_dtype or torch.float32, enabled=on, cache_enabled=False):
            y = self.model(img, wav)
        loss = self.loss_fn(y, target)
        loss.backward()
        return loss

    def __call__(self, img, wav, target) -> torch.Tensor:
        for buf, x in zip(self.static, (img, wav, target)):
            if buf.data_ptr() != x.data_ptr():
                buf.copy_(x)
        self.graph.replay()
        return self.loss


def _ce_loss(y, target):
    return F.cross_entropy(y.float(), target)


def _mean_loss(y, target):
    return y.float().mean()


def matmul_flops(n: int, dtype: torch.dtype, device: torch.device, reps: int = 3) -> float:
    """FLOP/s of an n x n x n matmul (best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def conv_backward_flops(
    grad_out_shape,
    x_shape,
    w_shape,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _output_padding,
    _groups,
    output_mask,
    out_shape=None,
    **kwargs,
) -> int:
    """FLOPs of ``aten.convolution_backward``: each requested gradient (input, weight) costs one forward.

    torch's own formula (``flop_counter.conv_backward_flop``, torch 2.11) builds the input gradient's transposed
    convolution from the weight shape [C_out, C_in / groups, k, k] without the groups, so it counts a depth-wise
    convolution's input gradient ``groups`` times over (C = 1280: 1280x). A forward's count is right, so reuse it.
    """
    from torch.utils.flop_counter import conv_flop_count

    fwd = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed=transposed)
    return fwd * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def _cpu_name() -> str:
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} CPUs, {torch.backends.cpu.get_cpu_capability()}"


def count_step_flops(net: Net, img, target, device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
    with counter:
        net.train_step(img, target, device)
    return counter.get_total_flops()


def run_isolated(args, name: str, live: bool = False) -> dict:
    """Peak RSS of a fresh process that builds ``name`` alone and runs two training steps. ``live``: with glibc's
    mmap threshold fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_``), so that every tensor buffer is its own mapping,
    returned to the system when freed: the RSS then follows the live allocations instead of what the heap keeps
    after frees (fragmentation; that part of the default reading varies by +-50 MiB from run to run)."""
    cmd = [
        sys.executable,
        __file__,
        "--_isolated",
        name,
        "--against-official",
        args.against_official,
        "--batch",
        str(args.batch),
        "--size",
        str(args.size),
        "--threads",
        str(args.threads),
    ]
    if args.checkpoint_stages:
        cmd += ["--checkpoint-stages", *map(str, args.checkpoint_stages)]
    if args.amp != "none":
        cmd += ["--amp", args.amp]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536") if live else None
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def isolated_child(args) -> None:
    torch.set_num_threads(args.threads)
    if args._isolated == "ours":  # the release's shapes, random weights (memory does not depend on the values)
        torch.manual_seed(args.seed)
        cfg = preset_config("official")
        cfg["audio"]["num_classes"] = NUM_CLASSES
        if args.checkpoint_stages:
            cfg["checkpoint_stages"] = list(args.checkpoint_stages)
        model = build_ddeseg(cfg)
        model.set_memory(SemanticMemory.from_official(torch.randn(BANK_SHAPE)))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            model, _ = build_release(Path(args.against_official), Path(tmp), args.seed)
    wav_sr = 22050
    _trim()
    built = RSSPeak.rss() / 2**20
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp) if args._isolated == "ours" else None
    g = torch.Generator().manual_seed(args.seed + 5)
    img = torch.randn(args.batch, 3, args.size, args.size, generator=g)
    net = Net(args._isolated, model, 0.1 * torch.randn(args.batch, wav_sr, generator=g), amp)
    target = torch.randint(0, NUM_CLASSES, (args.batch, args.size, args.size), generator=g)
    device = torch.device("cpu")
    # the RSS sampled from /proc (ru_maxrss would start at the parent's RSS, which a forked child inherits)
    with RSSPeak() as p:
        for _ in range(2):
            net.train_step(img, target, device)
    print(json.dumps({"name": args._isolated, "rss_after_build_MiB": built, "peak_rss_MiB": p.peak / 2**20}))


def run_against(args) -> dict:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.set_num_threads(args.threads)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    res: dict = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if cuda else _cpu_name(),
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "size": args.size,
        "rounds": args.rounds,
        "amp_ours": args.amp,
        "amp_release": args.amp if args.official_amp else "none",
        "compile_ours": bool(args.compile),
        "compile_mode_ours": args.compile_mode,
        "cuda_graphs_ours": bool(args.cuda_graphs),
        "checkpoint_stages_ours": list(args.checkpoint_stages or []),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        release, bank = build_release(Path(args.against_official), Path(tmp), args.seed)
        head = subprocess.run(["git", "-C", args.against_official, "rev-parse", "HEAD"], capture_output=True, text=True)
        res["release_commit"] = head.stdout.strip() or "unknown"
        ours = build_ours_like(release.state_dict(), bank, args.checkpoint_stages)
    release.to(device)
    release.aud_bank = release.aud_bank.to(device)  # a plain attribute
    ours.to(device)
    g = torch.Generator().manual_seed(args.seed + 5)
    B, S = args.batch, args.size
    img = torch.randn(B, 3, S, S, generator=g).to(device)
    wav = (0.1 * torch.randn(B, 22050, generator=g)).to(device)  # 1 s at the release's 22.05 kHz
    target = torch.randint(0, NUM_CLASSES, (B, S, S), generator=g).to(device)

    # 3. same function: eval logits, same Gumbel noise
    release.eval()
    ours.eval()
    set_stochastic_eval(ours, True)
    with torch.no_grad():
        torch.manual_seed(args.seed + 7)
        y_rel = release(img, wav)
        torch.manual_seed(args.seed + 7)
        y_ours = ours(img, wav)
    set_stochastic_eval(ours, False)
    res["parity_fp32_eval_logits"] = {
        "max_abs_diff": (y_ours.float() - y_rel.float()).abs().max().item(),
        "ref_max_abs": y_rel.abs().max().item(),
        "argmax_agreement": (y_ours.argmax(1) == y_rel.argmax(1)).float().mean().item(),
    }
    print("parity (fp32, eval, same noise):", res["parity_fp32_eval_logits"], flush=True)
    del y_rel, y_ours

    compiled = None
    if args.compile:
        compiled = torch.compile(ours, mode=args.compile_mode)
    nets = {
        "release": Net("release", release, wav, amp_dtype if args.official_amp else None),
        "ours": Net("ours", ours, wav, amp_dtype, compiled),
    }

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # warm-up (and compile) outside the rounds
    for n in nets.values():
        t = time.perf_counter()
        for _ in range(2 if (args.compile and n.name == "ours") else 1):
            n.fwd(img, device)
            n.train_step(img, target, device)
        sync()
        res.setdefault("warmup_s", {})[n.name] = time.perf_counter() - t
    # 4. FLOPs of one training step (FlopCounterMode counts matmuls, convolutions and attention)
    flops = {}
    for n in nets.values():
        if n.name == "ours" and (args.compile or args.cuda_graphs):
            n_eager = Net("ours", ours, wav, amp_dtype)  # count on the eager module: the same math
            flops["ours"] = count_step_flops(n_eager, img, target, device)
        else:
            flops[n.name] = count_step_flops(n, img, target, device)
    res["train_step_flops"] = flops
    print("training-step GFLOP:", {k: round(v / 1e9, 1) for k, v in flops.items()}, flush=True)
    if args.cuda_graphs:  # after the eager warm-up and FLOP count, which set the gradients to None
        t = time.perf_counter()
        nets["ours"].graphed = GraphedTrainStep(ours, img, wav, target, amp_dtype, _ce_loss)
        res["cuda_graph"] = {"capture_s": time.perf_counter() - t, "pool_MiB": nets["ours"].graphed.pool_mib}
        print("ours: training step captured as a CUDA graph:", res["cuda_graph"], flush=True)

    mm_dtype = amp_dtype if (amp_dtype is not None) else torch.float32
    mm_n = args.matmul_size or (8192 if cuda else 2048)
    rec = {
        n: {"fwd": [], "train": [], "fwd_peak": [], "fwd_rise": [], "train_peak": [], "train_rise": []} for n in nets
    }
    mm = []
    names = list(nets)
    cold = args.allocator == "cold"

    def measure(r, kind, name, timed=True):
        n = nets[name]
        if cold or not timed:
            _trim()  # hand the freed heap back to the OS: the call starts from a cold allocator
        else:
            gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        with RSSPeak() as p:
            sync()
            t = time.perf_counter()
            n.fwd(img, device) if kind == "fwd" else n.train_step(img, target, device)
            sync()
            dt = time.perf_counter() - t
        if cuda and kind == "train" and n.graphed is not None:
            # a replay allocates nothing: count all the CUDA memory reserved (the graph's pool included), a
            # conservative reading next to the release's max_memory_allocated
            peak = max(torch.cuda.max_memory_allocated(), torch.cuda.memory_reserved())
            rise = peak - base
        elif cuda:
            peak, rise = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_allocated() - base
        else:
            peak, rise = p.peak, p.peak - p.start
        if timed:
            rec[name][kind].append(dt)
        if cold or cuda or not timed:
            rec[name][f"{kind}_peak"].append(peak / 2**20)
            rec[name][f"{kind}_rise"].append(rise / 2**20)
        label = f"round {r + 1}" if timed else "memory "
        print(
            f"  {label} {kind:5s} {name:8s} {dt:8.3f} s  peak {peak / 2**20:7.0f} MiB (+{rise / 2**20:.0f})"
            + ("" if timed else "  (cold allocator, untimed)"),
            flush=True,
        )

    for r in range(args.rounds):
        mm.append(matmul_flops(mm_n, mm_dtype, device))
        order = names[r % len(names) :] + names[: r % len(names)]
        for kind in ("fwd", "train"):
            for name in order:
                measure(r, kind, name)
    if not cold and not cuda:
        # steady-state rounds leave the heap warm, so their RSS rise says nothing: one untimed call per network
        # after malloc_trim gives the peak and the rise of a call that must fault in all its memory
        for kind in ("fwd", "train"):
            for name in names:
                measure(0, kind, name, timed=False)
    mm_flops = statistics.median(mm)
    res["matmul"] = {"n": mm_n, "dtype": str(mm_dtype), "flops_per_s_median": mm_flops, "all": mm}
    res["memory_kind"] = "cuda max_memory_allocated" if cuda else "process RSS"
    res["allocator"] = args.allocator
    for name in names:
        v = rec[name]
        fwd, train = statistics.median(v["fwd"]), statistics.median(v["train"])
        res[name] = {
            "fwd_median_s": fwd,
            "fwd_all_s": v["fwd"],
            "fwdbwd_median_s": train,
            "fwdbwd_all_s": v["train"],
            "fwd_peak_MiB": max(v["fwd_peak"]),
            "fwd_rise_MiB": max(v["fwd_rise"]),
            "train_peak_MiB": max(v["train_peak"]),
            "train_rise_MiB": max(v["train_rise"]),
            "train_flops_per_s": flops[name] / train,
            "train_flops_share_of_matmul": flops[name] / train / mm_flops,
        }
    o, r = res["ours"], res["release"]
    res["ratios_ours_over_release"] = {
        "fwd_time": o["fwd_median_s"] / r["fwd_median_s"],
        "fwdbwd_time": o["fwdbwd_median_s"] / r["fwdbwd_median_s"],
        "fwdbwd_throughput": r["fwdbwd_median_s"] / o["fwdbwd_median_s"],
        "train_peak": o["train_peak_MiB"] / r["train_peak_MiB"],
        "train_rise": o["train_rise_MiB"] / r["train_rise_MiB"],
        "train_flops": flops["ours"] / flops["release"],
    }
    # the release's FLOPs over our time: the rate at which ours does the release's work
    res["ours"]["release_equivalent_flops_per_s"] = flops["release"] / o["fwdbwd_median_s"]
    res["ours"]["release_equivalent_share_of_matmul"] = flops["release"] / o["fwdbwd_median_s"] / mm_flops
    if args.isolated_memory and not cuda:
        del nets, compiled
        _trim()
        res["isolated_train_peak_rss_MiB"] = {n: run_isolated(args, n) for n in names}
        iso = res["isolated_train_peak_rss_MiB"]
        res["ratios_ours_over_release"]["isolated_train_peak"] = (
            iso["ours"]["peak_rss_MiB"] / iso["release"]["peak_rss_MiB"]
        )
        res["isolated_live_train_peak_rss_MiB"] = {n: run_isolated(args, n, live=True) for n in names}
        live = res["isolated_live_train_peak_rss_MiB"]
        res["ratios_ours_over_release"]["isolated_live_train_peak"] = (
            live["ours"]["peak_rss_MiB"] / live["release"]["peak_rss_MiB"]
        )
    print_summary(res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return res


def print_summary(res: dict) -> None:
    unit = res["memory_kind"]
    print(
        f"\n{res['device']}, torch {res['torch']}, {res['threads']} threads, batch {res['batch']}, "
        f"{res['size']} px, {res['rounds']} rounds ({res.get('allocator', 'cold')} allocator); "
        f"matmul {res['matmul']['n']}^3 {res['matmul']['dtype']}: "
        f"{res['matmul']['flops_per_s_median'] / 1e9:.1f} GFLOP/s"
    )
    print(
        f"{'network':8s} {'fwd s':>8s} {'fwd+bwd s':>10s} {'train GFLOP':>12s} {'GFLOP/s':>8s} {'% mm':>6s} "
        f"{'train peak MiB':>15s} {'rise MiB':>9s}  ({unit})"
    )
    for name in ("release", "ours"):
        v = res[name]
        print(
            f"{name:8s} {v['fwd_median_s']:8.3f} {v['fwdbwd_median_s']:10.3f} "
            f"{res['train_step_flops'][name] / 1e9:12.1f} {v['train_flops_per_s'] / 1e9:8.1f} "
            f"{100 * v['train_flops_share_of_matmul']:6.1f} {v['train_peak_MiB']:15.0f} {v['train_rise_MiB']:9.0f}"
        )
    print("ours / release:", {k: round(v, 3) for k, v in res["ratios_ours_over_release"].items()})
    print(
        f"ours at the release's FLOP count: {res['ours']['release_equivalent_flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"({100 * res['ours']['release_equivalent_share_of_matmul']:.1f} % of matmul)"
    )
    if "cuda_graph" in res:
        print(
            "ours replays its training step as a CUDA graph:",
            {k: round(v, 1) for k, v in res["cuda_graph"].items()},
            "(its train peak: all CUDA memory reserved, the graph's pool included)",
        )
    if "isolated_train_peak_rss_MiB" in res:
        print("isolated processes, peak RSS of two training steps:", res["isolated_train_peak_rss_MiB"])
        print(
            "the same with MALLOC_MMAP_THRESHOLD_=65536 (RSS follows live allocations):",
            res["isolated_live_train_peak_rss_MiB"],
        )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="paper-mit_b5-htsat", choices=sorted(PRESETS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="default 1 (single network) / 2 (against the release)")
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    ap.add_argument("--train", action="store_true", help="time forward+backward (train mode) instead of inference")
    ap.add_argument("--compile", action="store_true", help="torch.compile our network")
    ap.add_argument(
        "--compile-mode",
        default=None,
        choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
        help="torch.compile mode (reduce-overhead: inductor's CUDA graphs on a GPU)",
    )
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="single network: profile one more step (torch.profiler) and print its ROWS costliest ops",
    )
    ap.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="CUDA: capture our training step (forward, loss, backward) as one CUDA graph and replay it",
    )
    ap.add_argument(
        "--checkpoint-stages",
        type=int,
        nargs="*",
        default=None,
        help="activation checkpointing of these encoder stages (1-4)",
    )
    ap.add_argument(
        "--against-official",
        default=None,
        metavar="PATH",
        help="checkout of github.com/YenanLiu/DDESeg: time both official networks side by side",
    )
    ap.add_argument("--official-amp", action="store_true", help="also autocast the release (default: fp32)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matmul-size", type=int, default=None, help="matmul reference size (2048 CPU, 8192 CUDA)")
    ap.add_argument(
        "--isolated-memory",
        action="store_true",
        help="also measure each network's training peak RSS in a process of its own (CPU)",
    )
    ap.add_argument(
        "--allocator",
        choices=["steady", "cold"],
        default="steady",
        help="steady (default): timed calls follow each other as in a training loop, the freed heap kept; cold: "
        "malloc_trim before every timed call (the readings of 2026-12-06 and earlier), so every call faults in "
        "its memory afresh, which costs the network that allocates more (the release) more",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument("--_isolated", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.compile_mode and not args.compile:
        ap.error("--compile-mode needs --compile")
    if args.cuda_graphs:
        if args.device.split(":")[0] != "cuda":
            ap.error(f"--cuda-graphs needs --device cuda (got {args.device})")
        if not (args.train or args.against_official):
            ap.error("--cuda-graphs captures the training step: add --train (or use --against-official)")
        if args.compile or args.checkpoint_stages:
            ap.error(
                "--cuda-graphs is not combined with --compile (use mode='reduce-overhead' there) or with "
                "--checkpoint-stages (not captured: checkpointing saves and restores RNG states)"
            )
    if args.against_official:
        args.batch = args.batch or 2
        args.threads = args.threads or torch.get_num_threads()
        if args._isolated:
            isolated_child(args)
            return {}
        return run_against(args)
    args.batch = args.batch or 1
    return run_single(args)


if __name__ == "__main__":
    main()
