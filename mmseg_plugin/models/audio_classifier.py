"""``AVSAudioClassifier``: stage 1 of the recipe, fine-tuning the audio encoder on labels derived from the masks.

The paper builds its semantic memory (§3.1 Step 1, eqs. 2-4) from "a pre-trained foundation model" fine-tuned on
the AVS data; the official code uses HTSAT features. This model trains ``build_audio_backbone(audio)`` (set
``frozen=False``) plus a linear head with multi-label binary cross-entropy::

    audio [B, T] (or [B, 2, T], or [B, d] precomputed) -> backbone -> F_a [B, d] -> Linear -> logits [B, C_fg]

Targets are **frame-level** multi-hot vectors derived from each frame's mask: class ``c`` (1..num_classes-1;
background 0 and ignore 255 excluded) is positive when at least one pixel of the frame's ``gt_sem_seg`` has value
``c``; head output ``c - 1`` scores class ``c``. Frames without a label (``has_label`` False, e.g. AVSS v1s train
frames 1-4) get zero loss weight. For binary tasks (S4/MS3) the masks carry no class, so the target is the clip's
category taken from the data sample's metainfo key ``category_key`` (default ``"category"``) through
``class_names`` (e.g. the 23 S4 categories); a frame without it is an error naming the image.

Training options (``loss`` mode only): ``augment`` (``WaveformAugment`` kwargs: gain, time shift, union-target
mixup; mmseg_plugin/models/audio_augment.py) and ``pos_weight`` (BCE weight of positives, one float for every
class). Both are off by default (the paper states no stage-1 augmentation or class weighting).

Modes: ``loss`` -> ``dict(loss_audio_bce=...)``; ``predict`` -> the data samples with ``audio_scores`` (sigmoid
probabilities [C_fg]) and ``audio_targets`` set; ``tensor`` -> logits. ``encoder_state_dict()`` returns the
backbone's weights for ``SemanticMemory`` building and for DDESeg's ``audio.checkpoint``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from torch import Tensor, nn


def multi_hot_from_masks(data_samples, num_classes: int, ignore_index: int = 255) -> tuple:
    """Targets [B, num_classes-1] (float) and weights [B] from the ``gt_sem_seg`` of each data sample."""
    targets = torch.zeros(len(data_samples), num_classes - 1)
    weights = torch.zeros(len(data_samples))
    for i, ds in enumerate(data_samples):
        has_label = ds.metainfo.get("has_label", True) and "gt_sem_seg" in ds
        if not has_label:
            continue
        values = ds.gt_sem_seg.data.unique()
        values = values[(values != 0) & (values != ignore_index)]
        if values.numel() and int(values.max()) >= num_classes:
            raise ValueError(
                f"{ds.metainfo.get('img_path')}: mask value {int(values.max())} >= num_classes={num_classes}"
            )
        targets[i, (values - 1).long()] = 1.0
        weights[i] = 1.0
    return targets, weights


def multi_hot_from_category(data_samples, class_names: Sequence[str], key: str = "category") -> tuple:
    """One-hot targets [B, len(class_names)] from each sample's ``metainfo[key]`` (binary S4/MS3 tasks)."""
    index = {name: i for i, name in enumerate(class_names)}
    targets = torch.zeros(len(data_samples), len(class_names))
    for i, ds in enumerate(data_samples):
        name = ds.metainfo.get(key)
        if name is None:
            raise KeyError(f"{ds.metainfo.get('img_path')}: no '{key}' in the data sample metainfo")
        if name not in index:
            raise KeyError(f"{ds.metainfo.get('img_path')}: category {name!r} is not in class_names")
        targets[i, index[name]] = 1.0
    return targets, torch.ones(len(data_samples))


@MODELS.register_module()
class AVSAudioClassifier(BaseModel):
    """Audio backbone + linear multi-label head (stage 1 of the DDESeg recipe).

    Args:
        audio: ``build_audio_backbone`` config (use ``frozen=False`` to fine-tune).
        num_classes: segmentation classes including background (semantic tasks); the head has num_classes-1
            outputs. Ignored when ``class_names`` is given.
        class_names: category names for binary tasks (targets from ``metainfo[category_key]``).
        category_key: metainfo key holding a frame's category for binary tasks.
        dropout: dropout before the head.
        augment: ``WaveformAugment`` kwargs applied to training batches (None: no augmentation).
        pos_weight: BCE weight of positive targets (None: 1).
        ignore_index: mask value ignored when deriving targets.
        data_preprocessor: ``AVSDataPreprocessor`` config.
    """

    def __init__(
        self,
        audio: dict,
        num_classes: Optional[int] = None,
        class_names: Optional[Sequence[str]] = None,
        category_key: str = "category",
        dropout: float = 0.0,
        augment: Optional[dict] = None,
        pos_weight: Optional[float] = None,
        ignore_index: int = 255,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if isinstance(data_preprocessor, dict):  # build from mmseg's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from ddeseg_layers.audio import build_audio_backbone

        if class_names is None and (num_classes is None or num_classes < 2):
            raise ValueError("AVSAudioClassifier: give num_classes >= 2 (semantic) or class_names (binary tasks)")
        self.class_names = list(class_names) if class_names is not None else None
        self.num_classes = num_classes
        self.category_key = category_key
        self.ignore_index = ignore_index
        self.backbone = build_audio_backbone(dict(audio))
        num_out = len(self.class_names) if self.class_names is not None else num_classes - 1
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.out_dim, num_out)
        from .audio_augment import WaveformAugment

        self.augment = WaveformAugment(**augment) if augment else None
        if pos_weight is not None and not float(pos_weight) > 0:
            raise ValueError(f"AVSAudioClassifier: pos_weight must be > 0, got {pos_weight}")
        self.pos_weight = None if pos_weight is None else float(pos_weight)

    def targets(self, data_samples) -> tuple:
        if self.class_names is not None:
            return multi_hot_from_category(data_samples, self.class_names, self.category_key)
        return multi_hot_from_masks(data_samples, self.num_classes, self.ignore_index)

    def forward(self, inputs, data_samples=None, mode: str = "tensor"):
        audio = inputs["audio"] if isinstance(inputs, dict) else inputs
        if mode == "loss":
            if data_samples is None:
                raise ValueError("AVSAudioClassifier: mode='loss' needs data_samples")
            target, weight = self.targets(data_samples)
            target, weight = target.to(audio), weight.to(audio)
            if self.augment is not None and self.training:
                audio, target, weight = self.augment(audio, target, weight)
            logits = self.head(self.dropout(self.backbone(audio)))
            pw = None if self.pos_weight is None else torch.full_like(logits[0], self.pos_weight)
            per = F.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=pw).mean(dim=1)
            loss = (per * weight).sum() / weight.sum().clamp_min(1.0)
            return dict(loss_audio_bce=loss)
        logits = self.head(self.dropout(self.backbone(audio)))
        if mode == "tensor":
            return logits
        if mode == "predict":
            probs = logits.sigmoid().detach()
            target, weight = self.targets(data_samples)
            for i, ds in enumerate(data_samples):
                ds.set_field(probs[i].cpu(), "audio_scores")
                ds.set_field(target[i], "audio_targets")
                ds.set_metainfo(dict(audio_label_weight=float(weight[i])))
            return data_samples
        raise RuntimeError(f"AVSAudioClassifier: invalid mode {mode!r} (loss / predict / tensor)")

    def encoder_state_dict(self) -> dict:
        """The trained encoder's weights in the form ``build_audio_backbone(dict(cfg, checkpoint=path))`` loads.

        HTSAT and VGGish backbones load their ``checkpoint`` into their ``.net`` submodule (official key names), so
        that submodule's state dict is returned (plain tensors, readable with ``weights_only=True``).
        """
        inner = getattr(self.backbone, "net", None)
        if not isinstance(inner, nn.Module):
            raise ValueError(
                f"AVSAudioClassifier: backbone {type(self.backbone).__name__} has no trainable `.net` to export"
            )
        return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def audio_tagging_map(scores: Tensor, targets: Tensor) -> float:
    """Mean average precision over classes with at least one positive (scikit-learn), in [0, 1]."""
    from sklearn.metrics import average_precision_score

    keep = targets.sum(0) > 0
    if not bool(keep.any()):
        raise ValueError("audio_tagging_map: no class has a positive target")
    return float(average_precision_score(targets[:, keep].numpy(), scores[:, keep].numpy(), average="macro"))
