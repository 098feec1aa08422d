"""Stage "audio pre-training" of the recipe (opt-in): pre-train the audio encoder on an independent tagging set.

No paper equation. The paper's audio encoders start from AudioSet weights and are then fine-tuned on the AVS data
(§3.1 Step 1); the small synthetic configs train their log-mel CNN from scratch on the frame labels of 32 training
voices, and on unseen voices it keeps a fifth of the wrong words or drops the right one (docs/training.md). A config
with a top-level ``audio_pretrain`` dict first trains its stage-1 encoder geometry (``audio_classifier.model.audio``,
built with ``build_audio_backbone``) + a linear multi-label head on the voice-clip set of
:mod:`mmseg_plugin.synthetic.voice_clips` (1,000 voices of its own; no voice, clip or random stream shared with the
harder set), with binary cross-entropy on the words heard, and saves the encoder's ``.net`` state dict
(the form ``build_audio_backbone(dict(..., checkpoint=path))`` loads). ``tools/run_pipeline.py`` then starts stage 1
from it (``audio_classifier.model.audio.checkpoint``), exactly as the paper's stage 1 starts from AudioSet weights.

``audio_pretrain`` keys (defaults): ``num_clips`` (6000), ``num_voices`` (1000), ``iters`` (1500), ``batch_size``
(32), ``lr`` (1e-3), ``weight_decay`` (0.01), ``warmup_iters`` (50; then cosine to 5 %), ``seed`` (0), ``generator``
(extra :class:`~mmseg_plugin.synthetic.voice_clips.VoiceClipConfig` fields: ``seconds``, ``max_sources``,
``silent_fraction``, ``num_classes``). The loop is plain PyTorch over in-memory arrays; it is deterministic for a
seed on one thread.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config_utils import plain as _plain
from .simple_loop import adamw_no_decay_on_norms, warmup_cosine_factor

__all__ = ["AUDIO_PRETRAIN_DEFAULTS", "audio_pretrain_settings", "pretrain_audio_encoder", "train_tagger",
           "tagger_map"]  # fmt: skip

AUDIO_PRETRAIN_DEFAULTS = dict(
    num_clips=6000, num_voices=1000, iters=1500, batch_size=32, lr=1e-3, weight_decay=0.01, warmup_iters=50, seed=0,
    generator={},
)  # fmt: skip


def audio_pretrain_settings(cfg) -> Optional[dict]:
    """The config's ``audio_pretrain`` dict with defaults filled in, or None when the config has none."""
    ap = cfg.get("audio_pretrain", None)
    if not ap:
        return None
    ap = _plain(ap)
    name = getattr(cfg, "filename", "config")
    unknown = sorted(set(ap) - set(AUDIO_PRETRAIN_DEFAULTS))
    if unknown:
        raise ValueError(f"{name}: unknown audio_pretrain keys {unknown}; allowed: {sorted(AUDIO_PRETRAIN_DEFAULTS)}")
    out = dict(AUDIO_PRETRAIN_DEFAULTS, **ap)
    for key in ("num_clips", "num_voices", "iters", "batch_size"):
        if int(out[key]) < 1:
            raise ValueError(f"{name}: audio_pretrain.{key} must be >= 1")
    if int(out["warmup_iters"]) >= int(out["iters"]):
        raise ValueError(f"{name}: audio_pretrain.warmup_iters must be below audio_pretrain.iters")
    if not cfg.get("audio_classifier", None) or "audio" not in (_plain(cfg.audio_classifier).get("model") or {}):
        raise ValueError(f"{name}: audio_pretrain needs the stage-1 encoder `audio_classifier.model.audio`")
    return out


def train_tagger(
    encoder: nn.Module,
    head: nn.Module,
    waves: torch.Tensor,
    labels: torch.Tensor,
    iters: int,
    lr: float,
    batch_size: int,
    seed: int,
    weight_decay: float = 0.01,
    warmup_iters: int = 50,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple:
    """Multi-label BCE of ``head(encoder(wave))`` on random batches (with replacement) of ``waves`` float ``[N, n]`` /
    ``labels`` float ``[N, C]``; AdamW (no decay on norms / biases), linear warm-up then cosine to 5 %.
    Returns ``(seconds, last loss)``."""
    g = torch.Generator().manual_seed(int(seed))
    opt = adamw_no_decay_on_norms(list(encoder.parameters()) + list(head.parameters()), lr, weight_decay)
    encoder.train()
    head.train()
    t0 = time.perf_counter()
    loss = torch.zeros(())
    for it in range(int(iters)):
        for group in opt.param_groups:
            group["lr"] = lr * warmup_cosine_factor(it, int(iters), int(warmup_iters))
        idx = torch.randint(len(waves), (batch_size,), generator=g)
        loss = F.binary_cross_entropy_with_logits(head(encoder(waves[idx])), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(1)
    return time.perf_counter() - t0, float(loss.detach())


@torch.no_grad()
def tagger_map(encoder: nn.Module, head: nn.Module, waves: torch.Tensor, labels: torch.Tensor) -> float:
    """Macro mAP (percent, scikit-learn average precision over classes with a positive) of the tagger."""
    from sklearn.metrics import average_precision_score

    was = encoder.training, head.training
    encoder.eval()
    head.eval()
    scores = torch.cat([torch.sigmoid(head(encoder(waves[i : i + 64]))) for i in range(0, len(waves), 64)])
    encoder.train(was[0])
    head.train(was[1])
    y, s = labels.numpy(), scores.numpy()
    aps = [average_precision_score(y[:, c], s[:, c]) for c in range(y.shape[1]) if y[:, c].any()]
    return 100 * float(np.mean(aps)) if aps else float("nan")


def pretrain_audio_encoder(cfg, out: str, progress: Optional[Callable[[int], None]] = None) -> dict:
    """Generate the voice-clip set, train the stage-1 encoder + a linear head on it, save the encoder's ``.net``
    state dict to ``out``; returns the stage's report (timings, last loss, held-out mAP, settings)."""
    from ddeseg_layers.audio import build_audio_backbone

    from .synthetic.voice_clips import VOICE_STREAM, generate_voice_clips

    ap = audio_pretrain_settings(cfg)
    if ap is None:
        raise ValueError(f"{getattr(cfg, 'filename', 'config')}: no `audio_pretrain` dict")
    audio = copy.deepcopy(_plain(cfg.audio_classifier)["model"]["audio"])
    audio.update(frozen=False, checkpoint=None)
    seed = int(ap["seed"])
    torch.manual_seed(seed)
    encoder = build_audio_backbone(audio)
    inner = getattr(encoder, "net", None)
    if not isinstance(inner, nn.Module):
        raise ValueError(f"audio_pretrain: backbone {type(encoder).__name__} has no trainable `.net` to export")
    gen = dict(ap["generator"])
    gen["sample_rate"] = int(encoder.sample_rate)  # the clips at the rate the encoder reads
    t0 = time.perf_counter()
    waves, labels, info = generate_voice_clips(
        num_clips=int(ap["num_clips"]), num_voices=int(ap["num_voices"]), seed=seed, **gen
    )
    # a held-out check on voices of a pool the training clips never use (another seed of the same stream tag)
    held = dict(gen, num_clips=max(100, int(ap["num_clips"]) // 20), num_voices=max(50, int(ap["num_voices"]) // 10))
    hw, hl, _ = generate_voice_clips(seed=seed + 1_000_003, **held)
    gen_s = time.perf_counter() - t0
    head = nn.Linear(int(encoder.out_dim), labels.shape[1])
    x, y = torch.from_numpy(waves), torch.from_numpy(labels.astype(np.float32))
    seconds, last_loss = train_tagger(
        encoder, head, x, y, int(ap["iters"]), float(ap["lr"]), int(ap["batch_size"]), seed,
        weight_decay=float(ap["weight_decay"]), warmup_iters=int(ap["warmup_iters"]), progress=progress,
    )  # fmt: skip
    if not math.isfinite(last_loss):
        raise FloatingPointError(f"audio pre-training diverged (loss {last_loss}); lower audio_pretrain.lr")
    held_map = tagger_map(encoder, head, torch.from_numpy(hw), torch.from_numpy(hl.astype(np.float32)))
    report = dict(
        audio_pretrained=out,
        audio_pretrain_gen_s=round(gen_s, 1),
        audio_pretrain_train_s=round(seconds, 1),
        audio_pretrain_iters=int(ap["iters"]),
        audio_pretrain_last_loss=round(last_loss, 4),
        audio_pretrain_heldout_mAP=round(held_map, 2),
        audio_pretrain_settings=ap,
        audio_pretrain_clips_per_class=info["clips_per_class"],
        audio_pretrain_stream=VOICE_STREAM,
    )
    torch.save({k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}, out)
    return report
