"""Packaging for ddeseg-layers (the `ddeseg_layers` layers and the optional `mmseg_plugin`).

Core install (``pip install ddeseg-layers``) carries only what ``ddeseg_layers`` imports. The MMSegmentation
plugin needs the ``[mmseg]`` extra; mmcv 2.1.0 has no PyPI wheel and must be compiled with its CPU ops,
which ``tools/setup_env.sh`` does once and caches (see docs/getting_started.md).
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    ns = {}
    with open(os.path.join(HERE, "ddeseg_layers", "version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


CORE = [
    "torch>=2.4",
    "torchaudio>=2.4",
    "numpy>=1.24,<2.4",
    "scikit-learn>=1.3",
    "timm>=1.0",
    "packaging",
]
EXTRAS = {
    # Kept in step with mmseg_plugin/__init__.py's version window.
    "mmseg": [
        "mmengine==0.10.7",
        "mmcv==2.1.0",
        "mmsegmentation==1.2.2",
        "ftfy",
        "regex",
        "soundfile>=0.12",
        "pillow",
        "tqdm",
        "matplotlib",  # tools/analyze_audio.py (t-SNE pictures)
        "torchvision>=0.19",
    ],
    "triton": ["triton>=3.0"],
    # DDESegInferencer on video files (PyAV: FFmpeg bundled in its wheel, no system ffmpeg needed)
    "video": ["av>=14"],
    # tools/export.py: torch.export -> ONNX (onnxscript is torch's ONNX exporter) checked with onnxruntime
    "export": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
    # the test suite exercises the video and export paths too: [video] + [export] repeated (EXTRAS stays a literal,
    # tests/test_packaging.py reads it with ast.literal_eval; tools/setup_env.sh installs the same pins)
    "dev": ["pytest>=7", "ruff>=0.5", "hypothesis", "av>=14", "onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
}


def config_files():
    """Ship configs/ inside mmseg_plugin/.mim/configs so `_base_` resolves from an installed package."""
    out = []
    for root, _, files in os.walk(os.path.join(HERE, "configs")):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), os.path.join(HERE, "mmseg_plugin"))
                out.append(rel)
    return out


setup(
    name="ddeseg-layers",
    version=read_version(),
    description="DDESeg (CVPR 2025) audio-visual segmentation: PyTorch layers, fused kernels, MMSegmentation plugin",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["ddeseg_layers", "ddeseg_layers.*", "mmseg_plugin", "mmseg_plugin.*"]),
    package_data={"mmseg_plugin": [".mim/configs/**/*.py"]},
    include_package_data=True,
    install_requires=CORE,
    extras_require=EXTRAS,
)
