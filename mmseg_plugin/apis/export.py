"""Export a trained DDESeg for deployment: a ``torch.export`` program and an ONNX model.

No paper equation. The exported network is :class:`ExportableDDESeg`: ``image`` float32 ``[B, 3, H, W]`` (RGB, 0-255,
already resized to the config's test size) and ``audio`` float32 ``[B, T]`` (mono waveform window at the config's
``sample_rate``, ``T = window_seconds * sample_rate``; ``[B, 2, T]`` for stereo front ends) in, ``logits``
``[B, num_classes, H, W]`` out (binary tasks: one foreground logit). It applies the data preprocessor's mean / std
normalisation, then ``DDESeg.forward`` (eq. 1) in eval mode; the semantic memory, the audio front end's filters and
all weights are constants of the graph, so nothing else is needed at run time.

How: ``torch.export.export`` on CPU with the edge-aggregation op's ``reference`` backend (the ``torch`` backend is a
custom op with no ONNX translation; the Triton one is GPU-only), a static batch size (the example's: ``cdist`` and
size-1 specialisation guard the batch dimension, so one exported file serves one batch size); ONNX through PyTorch's
dynamo exporter (opset 18) with a translation of ``aten._cdist_forward`` (the nearest-centroid search of
DynamicDerivation) into ``Sub`` / ``Mul`` / ``ReduceSum`` / ``Sqrt``. ``compare_outputs`` checks both against eager
PyTorch (ONNX through onnxruntime); docs/inference.md lists what exports and the measured differences.
"""

from __future__ import annotations

import contextlib
import copy
import os
from typing import Dict, Optional, Tuple

import torch
from torch import nn

__all__ = ["ExportableDDESeg", "compare_outputs", "example_inputs", "export_onnx", "export_program"]

ONNX_OPSET = 18


class ExportableDDESeg(nn.Module):
    """``(image RGB 0-255 [B, 3, H, W], audio [B, T]) -> logits [B, C, H, W]``: normalisation + ``DDESeg``."""

    def __init__(self, net: nn.Module, mean=None, std=None) -> None:
        super().__init__()
        self.net = net
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1))

    @classmethod
    def from_segmentor(cls, segmentor: nn.Module) -> ExportableDDESeg:
        """From an ``AVSSegmentor`` (its ``net`` and its data preprocessor's mean / std), on CPU, in eval mode."""
        dp = segmentor.data_preprocessor
        norm = getattr(dp, "_normalize", False)
        mean = dp.mean.reshape(-1).cpu() if norm else None
        std = dp.std.reshape(-1).cpu() if norm else None
        net = copy.deepcopy(segmentor.net).cpu().eval()
        return cls(net, mean, std).eval()

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            image = (image - self.mean) / self.std
        return self.net(image, audio)


def example_inputs(cfg, batch_size: int = 1, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Random ``(image, audio)`` of the config's test geometry: the ``Resize`` scale and the audio window."""
    size = None
    audio = None
    for t in cfg.test_pipeline:
        if t["type"] == "Resize":
            size = t["scale"]  # mmcv: (w, h)
        if t["type"] == "LoadAudioWindow":
            audio = t
    if size is None or audio is None:
        raise ValueError("export needs a test_pipeline with Resize (fixed scale) and LoadAudioWindow")
    w, h = (size, size) if isinstance(size, int) else size
    sr = int(audio.get("sample_rate", 16000))
    n = int(round(float(audio.get("window_seconds") or 1.0) * sr))
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch_size, 3, int(h), int(w), generator=g) * 255.0
    shape = (batch_size, n) if audio.get("channels", "mono") == "mono" else (batch_size, 2, n)
    return image, 0.1 * torch.randn(*shape, generator=g)


@contextlib.contextmanager
def _reference_backend():
    old = os.environ.get("DDESEG_BACKEND")
    os.environ["DDESEG_BACKEND"] = "reference"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("DDESEG_BACKEND", None)
        else:
            os.environ["DDESEG_BACKEND"] = old


def export_program(module: ExportableDDESeg, inputs: Tuple[torch.Tensor, torch.Tensor]):
    """``torch.export.ExportedProgram`` of ``module`` for inputs of these shapes (static)."""
    with torch.no_grad(), _reference_backend():
        return torch.export.export(module.eval(), tuple(inputs))


def _cdist_onnx(x1, x2, p: float = 2.0, compute_mode: Optional[int] = None):
    """ONNX translation of ``aten._cdist_forward`` (p = 2): sqrt(sum((x1[:, None] - x2[None]) ** 2, -1))."""
    from onnxscript import opset18 as op

    d = op.Sub(op.Unsqueeze(x1, [-2]), op.Unsqueeze(x2, [-3]))
    return op.Sqrt(op.ReduceSum(op.Mul(d, d), [-1], keepdims=0))


def export_onnx(program, inputs: Tuple[torch.Tensor, torch.Tensor], path: str) -> str:
    """Write ``program`` (from :func:`export_program`) as ONNX to ``path`` (inputs image, audio; output logits)."""
    with torch.no_grad(), _reference_backend(), open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        onnx_program = torch.onnx.export(
            program,
            tuple(inputs),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=["image", "audio"],
            output_names=["logits"],
            custom_translation_table={torch.ops.aten._cdist_forward.default: _cdist_onnx},
            verbose=False,
        )
    onnx_program.save(path)
    return path


def compare_outputs(
    module: ExportableDDESeg,
    inputs: Tuple[torch.Tensor, torch.Tensor],
    program=None,
    onnx_path: Optional[str] = None,
) -> Dict[str, float]:
    """Max absolute differences of the exported program / the ONNX model (onnxruntime, CPU) to eager PyTorch."""
    with torch.no_grad():
        eager = module.eval()(*inputs)
        out: Dict[str, float] = {}
        if program is not None:
            out["torch_export"] = float((program.module()(*inputs) - eager).abs().max())
    if onnx_path is not None:
        import onnxruntime as ort

        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
        got = torch.from_numpy(sess.run(None, feeds)[0])
        out["onnx"] = float((got - eager).abs().max())
    out["logit_scale"] = float(eager.abs().max())
    return out
