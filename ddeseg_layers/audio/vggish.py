"""VGGish audio encoder (torchvggish ``vggish-10086976.pth`` key layout) and its PCA postprocessor.

``VGGish`` produces the per-second audio feature F_a of the paper's VGGish rows (Tables 1-2): 0.96 s log-mel
examples ``[B, 1, 96, 64]`` (from ``VGGishLogMel``) -> ``[B, embedding_dim]`` (128 for the released weights).

Layout (torchvggish ``VGG``): ``features`` = Conv3x3-ReLU-Pool (c0), Conv-ReLU-Pool (c1), Conv-ReLU-Conv-ReLU-Pool
(c2), Conv-ReLU-Conv-ReLU-Pool (c3), so the conv weights sit at ``features.{0,3,6,8,11,13}``; the map
``[B, c3, 6, 4]`` is flattened in channels-last order (TF compatibility) and fed to ``embeddings`` =
Linear-ReLU-Linear-ReLU-Linear-ReLU (``embeddings.{0,2,4}``). The released port ends with a ReLU, kept by default
(``final_relu``). ``channels`` / ``hidden_dim`` / ``embedding_dim`` shrink the network for CPU tests while keeping
the structure and key names.

``VGGishPCA`` applies the AudioSet release's PCA + whitening (``vggish_pca_params-970ea276.pth``, keys
``pca_eigen_vectors`` [128, 128], ``pca_means`` [128, 1]): ``y = E (x - mu)``, and optionally the 8-bit
quantisation ``round((clip(y, -2, 2) + 2) * 255 / 4)``.

``VGGishBackbone`` chains front end, network (and optional PCA) on waveforms ``[B, T]`` at 16 kHz and averages
the per-example embeddings of each clip: ``[B, T] -> [B, out_dim]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Optional, Union

import torch
from torch import nn

from ..checkpoint import LoadReport, load_checkpoint_file, load_state_dict_strict
from .base import FreezableBackbone
from .frontends import VGGishLogMel

__all__ = ["VGGish", "VGGishPCA", "VGGishBackbone", "load_vggish_checkpoint", "load_vggish_pca"]

QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0


class VGGish(nn.Module):
    """VGG-like audio embedding network with torchvggish parameter names.

    Args:
        channels: widths of the four conv groups (released: ``(64, 128, 256, 512)``).
        hidden_dim: width of the two hidden fully connected layers (released: 4096).
        embedding_dim: output width (released: 128).
        final_relu: keep the ReLU after the last Linear (as the torchvggish port has).
        example_shape: (frames, mel bands) of an input example; both must be divisible by 16.
        device, dtype: of the parameters.

    Shapes: ``[B, 1, 96, 64]`` (or ``[B, 96, 64]``) -> ``[B, embedding_dim]``.
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 128, 256, 512),
        hidden_dim: int = 4096,
        embedding_dim: int = 128,
        final_relu: bool = True,
        example_shape: Sequence[int] = (96, 64),
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"VGGish: channels must list 4 widths, got {tuple(channels)}")
        frames, bands = (int(s) for s in example_shape)
        if frames % 16 or bands % 16:
            raise ValueError(f"VGGish: example_shape {tuple(example_shape)} must be divisible by 16 (4 pools)")
        c0, c1, c2, c3 = (int(c) for c in channels)
        kw = dict(device=device, dtype=dtype)

        def conv(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, kernel_size=3, padding=1, **kw)

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=2, stride=2)

        relu = nn.ReLU
        self.features = nn.Sequential(
            conv(1, c0), relu(), pool(),  # 0-2
            conv(c0, c1), relu(), pool(),  # 3-5
            conv(c1, c2), relu(), conv(c2, c2), relu(), pool(),  # 6-10
            conv(c2, c3), relu(), conv(c3, c3), relu(), pool(),  # 11-15
        )  # fmt: skip
        self.example_shape = (frames, bands)
        flat = c3 * (frames // 16) * (bands // 16)
        layers = [
            nn.Linear(flat, hidden_dim, **kw), relu(),
            nn.Linear(hidden_dim, hidden_dim, **kw), relu(),
            nn.Linear(hidden_dim, embedding_dim, **kw),
        ]  # fmt: skip
        if final_relu:
            layers.append(relu())
        self.embeddings = nn.Sequential(*layers)
        self.out_dim = int(embedding_dim)

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        if examples.dim() == 3:
            examples = examples[:, None]
        if examples.dim() != 4 or examples.shape[1] != 1 or tuple(examples.shape[2:]) != self.example_shape:
            raise ValueError(
                f"VGGish: expected examples [B, 1, {self.example_shape[0]}, {self.example_shape[1]}], "
                f"got {tuple(examples.shape)}"
            )
        x = self.features(examples)  # [B, c3, frames/16, bands/16]
        x = x.permute(0, 2, 3, 1).flatten(1)  # channels-last flatten, as the TF-converted weights expect
        return self.embeddings(x)


class VGGishPCA(nn.Module):
    """AudioSet PCA/whitening postprocessor (buffers ``pca_eigen_vectors`` [D, D], ``pca_means`` [D, 1]).

    Args:
        dim: embedding width (128).
        quantize: also apply the release's 8-bit quantisation (outputs in {0, ..., 255}, no gradient).
        device, dtype: of the buffers.

    Shapes: ``[B, D]`` -> ``[B, D]``. Until parameters are loaded the transform is the identity.
    """

    def __init__(
        self,
        dim: int = 128,
        quantize: bool = False,
        *,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        self.quantize = bool(quantize)
        self.register_buffer("pca_eigen_vectors", torch.eye(dim, device=device, dtype=dtype))
        self.register_buffer("pca_means", torch.zeros(dim, 1, device=device, dtype=dtype))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.pca_means.shape[0]:
            raise ValueError(
                f"VGGishPCA: expected [B, {self.pca_means.shape[0]}] embeddings, got {tuple(embeddings.shape)}"
            )
        y = (embeddings - self.pca_means[:, 0]) @ self.pca_eigen_vectors.T
        if self.quantize:
            y = torch.clamp(y, QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
            y = torch.round((y - QUANTIZE_MIN_VAL) * (255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL)))
        return y


StateOrPath = Union[str, os.PathLike, Mapping[str, torch.Tensor]]


def _as_state(src: StateOrPath) -> tuple[dict, str]:
    if isinstance(src, Mapping):
        return dict(src), "state dict"
    return load_checkpoint_file(src), os.fspath(src)


def load_vggish_checkpoint(model: VGGish, src: StateOrPath) -> LoadReport:
    """Load torchvggish ``vggish-10086976.pth`` (or an equal state dict) strictly into ``model``."""
    state, what = _as_state(src)
    return load_state_dict_strict(model, state, what=what)


def load_vggish_pca(module: VGGishPCA, src: StateOrPath) -> LoadReport:
    """Load ``vggish_pca_params-970ea276.pth`` strictly; ``pca_means`` stored as [D] is reshaped to [D, 1]."""
    state, what = _as_state(src)
    state = {k: torch.as_tensor(v) for k, v in state.items()}
    means = state.get("pca_means")
    if means is not None and means.dim() == 1:
        state["pca_means"] = means.reshape(-1, 1)
    return load_state_dict_strict(module, state, what=what)


class VGGishBackbone(FreezableBackbone):
    """Waveform -> clip-level VGGish feature: ``[B, T]`` at 16 kHz -> ``[B, out_dim]``.

    Each clip is cut into 0.96 s examples (``VGGishLogMel``), embedded by ``VGGish`` (then ``VGGishPCA`` when
    ``pca`` is set) and the example embeddings are averaged. A 1 s window gives exactly one example.

    Args:
        frozen: freeze all parameters and keep the module in eval mode (fine-tune with ``frozen=False``).
        checkpoint: optional torchvggish state dict / path (keys ``features.*``, ``embeddings.*``).
        pca: optional PCA parameters (path / dict with ``pca_eigen_vectors``, ``pca_means``); enables PCA.
        quantize: with ``pca``, also apply the 8-bit quantisation.
        frontend: kwargs for ``VGGishLogMel`` (e.g. ``pad_short=True``).
        **net_kwargs: ``VGGish`` size options (``channels``, ``hidden_dim``, ``embedding_dim``, ``final_relu``).
    """

    def __init__(
        self,
        frozen: bool = True,
        checkpoint: Optional[StateOrPath] = None,
        pca: Optional[StateOrPath] = None,
        quantize: bool = False,
        frontend: Optional[dict] = None,
        **net_kwargs,
    ) -> None:
        super().__init__()
        self.frontend = VGGishLogMel(**(frontend or {}))
        self.net = VGGish(**net_kwargs)
        if checkpoint is not None:
            load_vggish_checkpoint(self.net, checkpoint)
        self.pca = None
        if pca is not None:
            self.pca = VGGishPCA(self.net.out_dim, quantize=quantize)
            load_vggish_pca(self.pca, pca)
        self.out_dim = self.net.out_dim
        self.sample_rate = self.frontend.sample_rate
        self.set_frozen(frozen)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() != 2:
            raise ValueError(f"VGGishBackbone: audio must be a mono waveform batch [B, T], got {tuple(audio.shape)}")
        examples = self.frontend(audio)  # [B, n, 96, 64]
        b, n = examples.shape[:2]
        emb = self.net(examples.flatten(0, 1)[:, None])  # [B*n, D]
        if self.pca is not None:
            emb = self.pca(emb)
        return emb.view(b, n, -1).mean(dim=1)
