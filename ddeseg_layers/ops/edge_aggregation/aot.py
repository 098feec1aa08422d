"""Ahead-of-time compilation and static inspection of the edge-aggregation Triton kernels, without a GPU.

Triton lowers a kernel to PTX and assembles it with the ptxas bundled in its wheel for any NVIDIA target; the
bundled cuobjdump reports the cubin's resources and disassembles it. Used by
``tests/ddeseg_layers/ops/test_triton_aot.py`` (every specialisation compiles for sm_90 without register spills)
and ``python -m ddeseg_layers.ops.edge_aggregation.aot`` (registers, occupancy and instructions per element of the
main loops: the static side of the kernels' roofline, see docs/kernels.md).

Relies on Triton's ``ASTSource`` / ``GPUTarget`` API (Triton 3.x); ``toolchain()`` raises ``RuntimeError`` with the
reason when it is unavailable.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Optional

import torch

INT_ARGS = {"J", "R", "D", "SPLIT_LEN", "NSPLIT"}
INPUT_DTYPE_ARGS = {"P", "U", "W", "OUT", "GO", "DU"}
TRITON_TYPES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
REGISTERS_PER_SM = 65536


def toolchain():
    """(triton, ASTSource, GPUTarget, cuobjdump path, triton_kernels module) or RuntimeError saying what is missing."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("ahead-of-time compilation needs compiled kernels: unset TRITON_INTERPRET")
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
    except ImportError as exc:
        raise RuntimeError(f"Triton with the ASTSource/GPUTarget AOT API is needed: {exc}") from exc
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(cuobjdump):
        raise RuntimeError(f"no cuobjdump in the Triton wheel ({cuobjdump})")
    from . import triton_kernels

    return triton, ASTSource, GPUTarget, cuobjdump, triton_kernels


def signature(fn, dtype: torch.dtype, has_mask: bool, constexprs: dict) -> dict:
    """Triton signature of one of our kernels as the launchers call it (pointer element types, i32 sizes)."""
    sig = {}
    for name in fn.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name in INT_ARGS:
            sig[name] = "i32"
        elif name == "IDX":
            sig[name] = "*i64"
        elif name == "MASK":
            sig[name] = "*u8" if has_mask else "*i64"  # the launchers pass the index as a dummy without a mask
        elif name in INPUT_DTYPE_ARGS:
            sig[name] = "*" + TRITON_TYPES[dtype]
        else:  # scratch, partials, stats, dP / dU / dw partials: fp32
            sig[name] = "*fp32"
    return sig


def attributes(fn, constexprs: dict, int_values: Optional[dict]) -> dict:
    """The alignment specialisation Triton's JIT applies at launch: every pointer argument 16-byte aligned (torch
    allocations are), and the integer arguments whose launch value is a multiple of 16 (``int_values``, e.g.
    {"D": 1024}) marked as such. Without it the compiled code would be more pessimistic (scalar loads) than what
    runs on the GPU."""
    attrs = {}
    int_values = int_values or {}
    for i, name in enumerate(fn.arg_names):
        if name in constexprs:
            continue
        if name not in INT_ARGS or (name in int_values and int_values[name] % 16 == 0):
            attrs[(i,)] = [["tt.divisibility", 16]]
    return attrs


def compile_cubin(
    fn,
    dtype,
    has_mask,
    constexprs,
    num_warps,
    arch: int = 90,
    workdir: Optional[Path] = None,
    int_values: Optional[dict] = None,
) -> Path:
    """Compile one specialisation for sm_<arch> as the JIT would for a launch with these integer arguments
    (``int_values``; alignment hints only); returns the path of the cubin."""
    triton, ASTSource, GPUTarget, _, _ = toolchain()
    src = ASTSource(
        fn=fn,
        signature=signature(fn, dtype, has_mask, constexprs),
        constexprs=constexprs,
        attrs=attributes(fn, constexprs, int_values),
    )
    kernel = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})
    workdir = Path(workdir or tempfile.mkdtemp(prefix="ddeseg_aot_"))
    path = workdir / f"{fn.__name__}_{abs(hash(str(sorted(constexprs.items())) + str(dtype) + str(num_warps)))}.cubin"
    path.write_bytes(kernel.asm["cubin"])
    return path


def resource_usage(cubin: Path) -> dict:
    """{'REG': registers per thread, 'LOCAL': local memory (spills) bytes, 'STACK', 'SHARED'} from cuobjdump."""
    cuobjdump = toolchain()[3]
    text = subprocess.run([cuobjdump, "-res-usage", str(cubin)], capture_output=True, text=True, check=True).stdout
    fields = dict(tok.split(":", 1) for line in text.splitlines() if "REG:" in line for tok in line.split())
    return {k: int(v) for k, v in fields.items() if k in ("REG", "LOCAL", "STACK", "SHARED")}


def loop_instructions(cubin: Path) -> list:
    """SASS instruction counts of every loop (a backward branch) in the cubin: [(count, Counter of opcodes)]."""
    cuobjdump = toolchain()[3]
    sass = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True, check=True).stdout
    ins = [(int(a, 16), t.strip()) for a, t in re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", sass)]
    loops = []
    for addr, text in ins:
        m = re.search(r"BRA\s+(?:\S+\s+)?0x([0-9a-f]+)", text)
        if m and int(m.group(1), 16) < addr:
            body = [t for a, t in ins if int(m.group(1), 16) <= a <= addr]
            ops = Counter(t.split()[1] if t.startswith("@") else t.split()[0] for t in body)
            loops.append((len(body), ops))
    return loops


def report(d: int = 1024, J: int = 1024, dtypes=(torch.float32, torch.bfloat16), arch: int = 90) -> str:
    """Markdown table: registers, spills, resident warps per SM and SASS instructions per tile element of the
    main loop for the forward partial kernel and the two backward kernels at the launchers' tile choice."""
    _, _, _, _, tk = toolchain()
    lines = [
        f"sm_{arch}, d = {d}, J = R = {J}, G = 1, Q = 250, reduce=True, no mask (launch-time alignment hints)",
        "",
        "| kernel | dtype | BLOCK_J x BLOCK_D | warps | registers | spill bytes | warps / SM (registers) "
        "| main-loop SASS instructions | per element per thread |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dtype in dtypes:
        bj_f, bd, w_f = tk.block_sizes(J, d)
        bj_b, _, w_b = tk.block_sizes(J, d, backward=True)
        builds = [
            (tk._fwd_partial_kernel, dict(HAS_MASK=False, REDUCE=True, BLOCK_J=bj_f, BLOCK_D=bd), w_f, bj_f),
            (tk._bwd_stats_kernel, dict(HAS_MASK=False, REDUCE=True, BLOCK_J=bj_b, BLOCK_D=bd), w_b, bj_b),
            (
                tk._bwd_grad_kernel,
                dict(HAS_MASK=False, REDUCE=True, ATOMIC=True, BLOCK_S=8, BLOCK_J=bj_b, BLOCK_D=bd),
                w_b,
                bj_b,
            ),
        ]
        nsplit, split_len = tk.split_plan(250, J, bj_f)
        ints = {"J": J, "R": J, "D": d, "SPLIT_LEN": split_len, "NSPLIT": nsplit}
        for fn, constexprs, warps, bj in builds:
            cubin = compile_cubin(fn, dtype, False, constexprs, warps, arch, int_values=ints)
            usage = resource_usage(cubin)
            loops = loop_instructions(cubin)
            main = max(loops, key=lambda x: x[0])[0] if loops else 0
            per_thread = bj * bd / (32 * warps)
            blocks = REGISTERS_PER_SM // max(1, usage["REG"] * 32 * warps)
            lines.append(
                f"| {fn.__name__} | {TRITON_TYPES[dtype]} | {bj} x {bd} | {warps} | {usage['REG']} | "
                f"{usage.get('LOCAL', 0)} | {blocks * warps} | {main} | {main / per_thread:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="static resource report of the edge-aggregation Triton kernels")
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--J", type=int, default=1024)
    p.add_argument("--arch", type=int, default=90, help="compute capability x10 (90 = H100/H200)")
    a = p.parse_args(argv)
    print(report(a.d, a.J, arch=a.arch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
