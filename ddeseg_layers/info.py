"""``python -m ddeseg_layers.info``: what this installation can do.

Prints the versions of the stack (torch, torchaudio, triton, CUDA, timm, scikit-learn and, when the ``[mmseg]``
extra is installed, mmengine / mmcv / mmseg), whether ``mmseg_plugin`` is importable, and for every fused op
which backends are available on this machine and, for each one that is not, why.
Never imports mmengine/mmcv/mmseg as a module of ``ddeseg_layers``: the plugin stack is only probed through
package metadata, so the report works with and without the extra.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import sys


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def collect() -> dict:
    import torch

    from . import __version__
    from .ops import dispatch

    cuda = torch.cuda.is_available()
    info = {
        "ddeseg_layers": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
        "packages": {
            name: _dist_version(name)
            for name in (
                "torchaudio",
                "torchvision",
                "triton",
                "timm",
                "scikit-learn",
                "numpy",
                "soundfile",
                "mmengine",
                "mmcv",
                "mmsegmentation",
            )
        },
        "mmseg_plugin_extra": all(_dist_version(n) for n in ("mmengine", "mmcv", "mmsegmentation")),
        "ops": dispatch.report(),
    }
    return info


def format_report(info: dict) -> str:
    lines = [f"ddeseg_layers {info['ddeseg_layers']}  (python {info['python']}, {info['platform']})"]
    cuda = f"CUDA build {info['torch_cuda_build']}" if info["torch_cuda_build"] else "CPU-only build"
    dev = info["cuda_device"] or "no CUDA device"
    lines.append(f"torch {info['torch']} ({cuda}; {dev})")
    for name, ver in info["packages"].items():
        lines.append(f"  {name:<14} {ver or 'not installed'}")
    extra = "installed" if info["mmseg_plugin_extra"] else "not installed (pip install 'ddeseg-layers[mmseg]')"
    lines.append(f"[mmseg] extra: {extra}")
    lines.append("fused ops:")
    for row in info["ops"]:
        state = "available" if row["available"] else "unavailable: " + "; ".join(row["reasons"])
        lines.append(f"  {row['op']:<18} {row['backend']:<10} {state}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddeseg_layers.info", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_report(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
