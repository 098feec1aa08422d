#!/usr/bin/env bash
# One idempotent installer for ddeseg: creates (or reuses) a virtual environment and installs the
# dependency stack documented in docs/getting_started.md. Every step is skipped when already satisfied.
#
#   bash tools/setup_env.sh [--extras mmseg,triton,video,export,dev]      (default: mmseg,dev; dev includes video,export)
#
# Environment:
#   DDESEG_VENV         the virtual environment to create/use      (default: <repo>/.venv)
#   DDESEG_WHEEL_CACHE  where the compiled mmcv wheel is cached     (default: ~/.cache/ddeseg/wheels)
#   DDESEG_PYTHON       interpreter used to create the venv         (default: python3)
# Only the package registries are contacted (PyPI through pip's configured indexes).
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DDESEG_VENV:-$REPO/.venv}"
EXTRAS="mmseg,dev"
while [ $# -gt 0 ]; do
  case "$1" in
    --extras) EXTRAS="$2"; shift 2 ;;
    --extras=*) EXTRAS="${1#*=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
TORCHAUDIO_VERSION=2.11.0
MMCV_VERSION=2.1.0

STEP="start"
trap 'echo "setup_env.sh: FAILED at step: $STEP (see the output above)" >&2' ERR
step() { STEP="$1"; echo "[setup_env] $1"; }
has_extra() { case ",$EXTRAS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

step "virtual environment at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "${DDESEG_PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

step "build tools (setuptools<81, wheel, ninja)"
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m, sys
from packaging.version import Version
v = Version(m.version("setuptools")); m.version("wheel"); m.version("ninja")
sys.exit(0 if v < Version("81") else 1)
PYEOF
then
  "${PIP[@]}" -q "setuptools<81" wheel ninja packaging
fi

step "torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION / torchaudio $TORCHAUDIO_VERSION"
if ! "$PY" - "$TORCH_VERSION" "$TORCHVISION_VERSION" "$TORCHAUDIO_VERSION" <<'PYEOF' 2>/dev/null
import sys, importlib.metadata as m
want = dict(zip(["torch", "torchvision", "torchaudio"], sys.argv[1:]))
sys.exit(0 if all(m.version(k).split("+")[0] == v for k, v in want.items()) else 1)
PYEOF
then
  "${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "torchaudio==$TORCHAUDIO_VERSION" "numpy>=2,<2.4"
fi

if has_extra mmseg; then
  step "mmcv $MMCV_VERSION with CPU ops (cached wheel, built from source once)"
  if ! "$PY" -c "import mmcv, mmcv._ext; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    TAG="$("$PY" -c "import sys, torch; print(f'cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")"
    CACHE="${DDESEG_WHEEL_CACHE:-$HOME/.cache/ddeseg/wheels}/$TAG"
    mkdir -p "$CACHE"
    WHEEL="$(ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
    if [ -z "$WHEEL" ]; then
      step "compiling mmcv $MMCV_VERSION (about 10 minutes on 2 cores; cached afterwards in $CACHE)"
      BUILD="$(mktemp -d)"
      MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
        "$PY" -m pip wheel --no-build-isolation --no-deps -w "$BUILD" "mmcv==$MMCV_VERSION"
      BUILT="$(ls "$BUILD"/mmcv-*.whl)"
      step "stripping debug symbols from the mmcv wheel"
      STRIP_DIR="$(mktemp -d)"
      "$PY" -m wheel unpack -d "$STRIP_DIR" "$BUILT"
      find "$STRIP_DIR" -name '_ext*.so' -exec strip --strip-debug {} + 2>/dev/null || true
      "$PY" -m wheel pack -d "$CACHE" "$STRIP_DIR"/mmcv-*
      rm -rf "$BUILD" "$STRIP_DIR"
      WHEEL="$(ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
    fi
    step "installing cached mmcv wheel $WHEEL"
    "${PIP[@]}" --no-deps "$WHEEL"
    "${PIP[@]}" -q addict mmengine==0.10.7 opencv-python-headless pyyaml yapf
    "$PY" -c "import mmcv, mmcv._ext"
  fi

  step "openmim 0.3.9 (without its opendatalab/openxlab dependencies, which break the environment)"
  if ! "$PY" -c "import mim" 2>/dev/null; then
    "${PIP[@]}" -q --no-deps openmim==0.3.9
    "${PIP[@]}" -q click colorama model-index pandas requests rich tabulate
  fi
fi

if has_extra video || has_extra export || has_extra dev; then
  # the same pins as setup.py's [video] / [export] extras ([dev] includes both)
  step "PyAV (video files, FFmpeg in its wheel) / onnx, onnxscript, onnxruntime (tools/export.py)"
  if ! "$PY" -c "import av, onnx, onnxscript, onnxruntime" 2>/dev/null; then
    "${PIP[@]}" -q "av>=14" "onnx>=1.16" "onnxscript>=0.3" "onnxruntime>=1.18"
  fi
fi

step "ddeseg-layers (editable) with extras [$EXTRAS]"
if [ -n "$EXTRAS" ]; then TARGET="$REPO[$EXTRAS]"; else TARGET="$REPO"; fi
"${PIP[@]}" -q --no-build-isolation -e "$TARGET"

step "import check"
"$PY" -c "import ddeseg_layers; print('ddeseg_layers', ddeseg_layers.__version__)"
if has_extra mmseg; then "$PY" -c "import mmseg_plugin, mmseg.models; print('mmseg_plugin OK')"; fi
echo "[setup_env] done: $VENV"
