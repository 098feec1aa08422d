#!/usr/bin/env bash
# One-shot GPU check of the fused edge-aggregation kernels (issue 5) and the whole model (issue 15); run from the
# repository root:
#     bash benchmarks/gpu_check.sh            # writes logs and a summary to $OUT (default ./gpu_out)
#     RELEASE=/path/to/DDESeg RELEASE_SITE=/path/to/site bash benchmarks/gpu_check.sh   # + the release side by side
# Stages (each under its own timeout; a failing stage does not stop the next): environment, backend report,
# `pytest -m gpu tests/ddeseg_layers/ops`, the op benchmark (--quick), the J-split sweep, the whole-model benchmark
# (paper, official, both replayed as CUDA graphs), and, when RELEASE names a checkout of github.com/YenanLiu/DDESeg, the official network against
# the release (benchmarks/bench_model.py --against-official: batch 50, 224 px, ours bf16 autocast vs the release
# eager fp32, alternating rounds, peak memory, FLOP/s and MFU against a bf16 8192^3 matmul). RELEASE_SITE is an
# extra import folder with the release's own dependencies (einops, torchlibrosa, librosa; see bench_model.py).
# Needs python3 with torch + triton + pytest (the repository is used in place through PYTHONPATH, no install).
# Budget: the stage timeouts add up to 575 s (under the 600 s of one device call).
set -u -o pipefail
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
unset TRITON_INTERPRET DDESEG_BACKEND

stage() {  # stage NAME TIMEOUT_S CMD...
    local name="$1" limit="$2"
    shift 2
    echo "== $name (timeout ${limit}s): $*" | tee -a "$OUT/stages.log"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=$?
    echo "$name rc=$rc seconds=$((SECONDS - t0))" | tee -a "$OUT/stages.log"
    echo "$name $rc $((SECONDS - t0))" >> "$OUT/rcs.txt"
}

: > "$OUT/stages.log"
: > "$OUT/rcs.txt"
stage env 15 bash -c "nvidia-smi; $PY -c 'import torch, triton, sys; print(sys.version); print(\"torch\", torch.__version__, \"triton\", triton.__version__, torch.cuda.get_device_name())'"
stage backends 15 "$PY" -c "import json; from ddeseg_layers.ops.dispatch import report; print(json.dumps(report(), indent=1))"
stage ops_gpu_tests 80 "$PY" -m pytest -m gpu tests/ddeseg_layers/ops -q -rfE -p no:cacheprovider \
    --junitxml="$OUT/ops_gpu_tests.xml"
stage bench 75 "$PY" benchmarks/bench_edge_aggregation.py --device cuda --quick \
    --json "$OUT/bench_edge_aggregation.json" --markdown "$OUT/bench_edge_aggregation.md"
# the Triton kernels alone per number of J splits (tuning data for triton_kernels.TARGET_PROGRAMS)
stage splits 50 "$PY" benchmarks/bench_edge_aggregation.py --device cuda --splits-sweep --reps 5 \
    --markdown "$OUT/splits_sweep.md"
# whole-model step time and memory at the paper configuration and the official one (batch 8, 224 px, bf16 autocast),
# each with a profile of one more step (its 30 costliest kernels and its op count: on the H200 of 2026-11-27 the
# paper variant took 405 ms against the official's 215 although it is 3x faster on the CPU)
stage model_paper 45 "$PY" benchmarks/bench_model.py --device cuda --preset paper-mit_b5-htsat --batch 8 --amp bf16 \
    --train --repeats 5 --profile 30
stage model_official 45 "$PY" benchmarks/bench_model.py --device cuda --preset official --batch 8 --amp bf16 \
    --train --repeats 5 --profile 30
# the same steps captured once as CUDA graphs and replayed (static shapes): an eager step dispatches ~33k (official)
# / ~46k (paper) aten op calls from the CPU (`--profile`, 2026-12-06), which at a few microseconds each is about the
# whole GPU step time of 2026-11-27; a replay dispatches none. Compare with model_official / model_paper.
stage model_official_graphs 40 "$PY" benchmarks/bench_model.py --device cuda --preset official --batch 8 --amp bf16 \
    --train --repeats 5 --cuda-graphs
stage model_paper_graphs 40 "$PY" benchmarks/bench_model.py --device cuda --preset paper-mit_b5-htsat --batch 8 \
    --amp bf16 --train --repeats 5 --cuda-graphs
# the official network against the release: batch 50 x 224 px, ours bf16 autocast, the release eager fp32
if [ -n "${RELEASE:-}" ] && [ -f "$RELEASE/models/DDESeg.py" ]; then
    PYTHONPATH="$PYTHONPATH${RELEASE_SITE:+:$RELEASE_SITE}" stage model_vs_release 170 "$PY" benchmarks/bench_model.py \
        --device cuda --against-official "$RELEASE" --batch 50 --size 224 --amp bf16 --rounds 3 \
        --json "$OUT/model_vs_release.json"
else
    echo "model_vs_release skipped: set RELEASE to a checkout of github.com/YenanLiu/DDESeg" | tee "$OUT/model_vs_release.log"
    echo "model_vs_release skipped 0" >> "$OUT/rcs.txt"
fi

# summary.json / summary.md (the benchmark rows are also recovered from its log if it timed out)
"$PY" - "$OUT" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
stages = {}
for line in (out / "rcs.txt").read_text().splitlines():
    name, rc, secs = line.split()
    stages[name] = {"rc": rc if rc == "skipped" else int(rc), "seconds": int(secs)}
def tail(name, n=3):
    p = out / f"{name}.log"
    return p.read_text().strip().splitlines()[-n:] if p.exists() else []
rows = []
for line in (out / "bench.log").read_text().splitlines() if (out / "bench.log").exists() else []:
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
summary = {"stages": stages, "ops_gpu_tests": tail("ops_gpu_tests"), "model_paper": tail("model_paper", 64),
           "model_official": tail("model_official", 64),
           "model_official_graphs": tail("model_official_graphs", 26),
           "model_paper_graphs": tail("model_paper_graphs", 26), "model_vs_release": tail("model_vs_release", 9),
           "env": tail("env", 2), "bench_rows": rows}
(out / "summary.json").write_text(json.dumps(summary, indent=1))
md = ["# GPU check summary", "", "| stage | rc | s |", "|---|---|---|"]
md += [f"| {k} | {v['rc']} | {v['seconds']} |" for k, v in stages.items()]
md += ["", "env: " + " / ".join(summary["env"]), "", "ops gpu tests: " + " / ".join(summary["ops_gpu_tests"]),
       "", "## model (paper), batch 8 bf16, with a profile of one step", "", "```", *summary["model_paper"], "```", "",
       "## model (official), batch 8 bf16, with a profile of one step", "", "```", *summary["model_official"], "```",
       "", "## model (official), the same step replayed as a CUDA graph", "", "```",
       *summary["model_official_graphs"], "```", "", "## model (paper), the same step replayed as a CUDA graph", "",
       "```", *summary["model_paper_graphs"], "```", "",
       "## official network vs the release (batch 50, ours bf16, release fp32)", "", "```",
       *summary["model_vs_release"], "```", ""]
bench_md = out / "bench_edge_aggregation.md"
md.append(bench_md.read_text() if bench_md.exists() else f"benchmark did not finish; {len(rows)} rows in summary.json")
sweep_md = out / "splits_sweep.md"
md += ["", "## J splits", "", sweep_md.read_text() if sweep_md.exists() else "splits sweep did not finish: " + " / ".join(tail("splits"))]
(out / "summary.md").write_text("\n".join(md) + "\n")
print("\n".join(md))
PYEOF
echo "gpu_check done: $OUT/summary.md"
