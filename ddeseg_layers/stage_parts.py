"""Parts shared by the fusion encoders' stages (MiT :mod:`~ddeseg_layers.encoder`, PVT-v2 :mod:`~ddeseg_layers.pvt`).

* :class:`AudioProjection`: the per-stage projection of the audio tokens to the stage width (official ``aud_Mlp``).
* :func:`drop_path_rates`: the stochastic-depth rule over all blocks.
* :func:`eliminate`: Phi_E at one stage (eq. 1 second line): runs the stage's DEM and carries its scores on the
  d_audio tokens.

Depends on ``torch`` only, so both encoders import it without importing each other.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AudioProjection", "drop_path_rates", "eliminate"]


class AudioProjection(nn.Module):
    """Per-stage audio projection ``fc2(GELU(fc1(a)))``: ``[..., d_audio] -> [..., C_l]`` (official ``aud_Mlp``).

    Args:
        in_dim: audio token width d_audio.
        out_dim: stage width C_l.
        hidden_ratio: hidden width = ``hidden_ratio * in_dim`` (4, i.e. 768 -> 3072 -> C_l).
        dropout: dropout after the activation and after ``fc2`` (0 in the released code).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden_ratio: int = 4, dropout: float = 0.0, *, device=None, dtype=None
    ) -> None:
        super().__init__()
        dd = {"device": device, "dtype": dtype}
        self.fc1 = nn.Linear(in_dim, hidden_ratio * in_dim, **dd)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_ratio * in_dim, out_dim, **dd)
        self.drop = nn.Dropout(dropout)
        # xavier-uniform weights, PyTorch default (uniform) biases, as the released aud_Mlp
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(a)))))


def drop_path_rates(rate: float, n: int) -> list[float]:
    """Stochastic-depth rates rising linearly from 0 to ``rate`` over ``n`` blocks (``torch.linspace`` rule)."""
    return [rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]


def eliminate(
    dem: nn.Module, proj: torch.Tensor, visual: torch.Tensor, audio: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Phi_E at one stage (eqs. 13-17): returns ``(S * P^l, S * A^(l-1), S.detach())`` with ``S`` [B, K].

    ``dem(P^l, V^l, return_scores=True)`` scales the projected tokens, records its own ``last_scores`` and returns
    S in the graph, which scales the carried tokens too, so later stages back-propagate into earlier DEMs.
    """
    proj, s = dem(proj, visual, return_scores=True)
    return proj, audio * s.unsqueeze(-1).to(audio.dtype), s.detach()
