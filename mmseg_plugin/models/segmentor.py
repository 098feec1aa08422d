"""``AVSSegmentor``: the MMSegmentation 1.x segmentor that wraps ``ddeseg_layers.model.DDESeg``.

Data flow (shapes for a batch of B frames, see ``AVSDataPreprocessor``)::

    inputs = dict(img=[B, 3, H, W] float (normalised), audio=[B, T] | [B, 2, T] | [B, d])
    DDESeg(img, audio) -> logits [B, C, H, W]     (C = 1 for binary tasks, num_classes for semantic ones)

Modes (``BaseSegmentor.forward``):

* ``loss``: the weighted sum of eq. 18 (paper §3.4): every loss in ``losses`` is built from its config and called
  as mmseg's decode heads do, ``loss(logits [B, C, H, W], label [B, H, W] int64, ignore_index=255)``; their
  values are returned under each loss's ``loss_name`` (so logs show dice, BCE/CE and IoU separately).
* ``predict``: ``SegDataSample`` per frame with ``seg_logits`` (raw logits for semantic tasks; sigmoid
  probabilities for binary ones, as mmseg does for one output channel) and ``pred_sem_seg`` (argmax for semantic
  tasks, 0 = background; ``prob > threshold`` for binary ones), drawable by mmseg's ``SegLocalVisualizer``.
* ``tensor``: the raw logits.

Prediction geometry: when a data sample carries ``gt_sem_seg``, the logits are cut to the un-padded image and
resized (bilinear) to the mask's size, so prediction and ground truth share one frame of reference (the test
pipeline resizes both with the image). Without ground truth the padding and any recorded flip are undone and the
logits are resized to ``ori_shape``.

Semantic memory: the memory (eqs. 2-4) lives in ``DDESeg.memory`` and therefore in every checkpoint. If
``semantic_memory_path`` is given and the file exists, it is loaded at build time (``load_semantic_memory``, the one
place the segmentor reads a memory file; a file written after the build is loaded by ``load_memory_if_appeared``,
which ``SemanticMemoryCheckHook`` calls before training) and handed to ``DDESeg.set_memory``, which refuses a memory
whose class count or feature dimension does not match the model (the ValueError names the file and both numbers). A
model whose derivation module needs the memory refuses to train or predict while the memory is still the empty
placeholder (no file, no checkpoint), naming the file to build with ``tools/build_semantic_memory.py``.

Memory provenance: a memory file records the fingerprint of the audio encoder that produced it (weights hash and
front-end settings, ``mmseg_plugin.apis.memory_builder``), the released bank its own tag. Loading a memory built by a
different encoder than ``net.audio`` (e.g. one built with a fine-tuned encoder next to a config that runs the AudioSet
HTS-AT) is refused with a ValueError naming the file and both encoders, unless ``allow_memory_encoder_mismatch=True``
(then it is a warning). A memory file without provenance (written before it existed) loads with a warning.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

#: what ``seg_logits`` holds for a binary (one-channel) task: sigmoid probabilities, as mmseg's ``BaseSegmentor``.
#: ``AVSMetric``'s default ``binary_score`` reads this, so segmentor and metric agree without a config override.
BINARY_SEG_LOGITS = "probabilities"

TASKS = ("semantic", "binary")


def memory_is_populated(memory) -> bool:
    """True if a SemanticMemory holds data for at least one class (False for ``SemanticMemory.empty``)."""
    mask = getattr(memory, "class_mask", None)
    return bool(mask is not None and mask.numel() > 0 and bool(mask.any()))


def check_memory_encoder(net, mem, where: str, allow_mismatch: bool = False) -> None:
    """Refuse ``mem`` (read from ``where``) if another audio encoder than ``net.audio`` built it (module docstring)."""
    import warnings

    from ddeseg_layers.memory import check_provenance

    if mem.provenance is None:
        warnings.warn(
            f"semantic memory {where} records no audio-encoder provenance (written before fingerprints existed): "
            "cannot check that it was built by the encoder this model runs; rebuild it to enable the check",
            stacklevel=2,
        )
        return
    reason = check_provenance(mem, net.audio)
    if reason is None:
        return
    msg = f"semantic memory {where} was not built by this model's audio encoder: {reason}"
    if allow_mismatch:
        warnings.warn(msg + " (allowed by allow_memory_encoder_mismatch=True)", stacklevel=2)
        return
    raise ValueError(
        msg + ". Its features and the model's F_a live in different spaces. Rebuild the memory with the encoder the "
        "config runs (`python tools/build_semantic_memory.py CONFIG [--checkpoint ENCODER]`), point "
        "`model.net.audio.checkpoint` at the encoder that built it, or set `model.allow_memory_encoder_mismatch=True`"
        "; refusing to start."
    )


@MODELS.register_module()
class AVSSegmentor(BaseSegmentor):
    """Segmentor for audio-visual segmentation (binary S4/MS3 or semantic AVSS/VPO).

    Args:
        net: config dict for ``ddeseg_layers.model.build_ddeseg`` (``num_classes`` must be 1 for ``task='binary'``).
        losses: list of loss configs (registered in mmseg's MODELS), e.g. AVSDiceLoss / AVSBCELoss or
            AVSCrossEntropyLoss / AVSIoULoss with their ``loss_weight`` (paper: 5 / 5 / 2).
        task: ``"semantic"`` (softmax over num_classes, background = 0) or ``"binary"`` (one sigmoid channel).
        semantic_memory_path: SemanticMemory file (``SemanticMemory.save``) to load at build time, if it exists.
        require_memory: refuse to run while the memory is the empty placeholder (default: whenever the network
            uses the memory, i.e. unless the derivation module is disabled (Table 3 baseline)).
        allow_memory_encoder_mismatch: accept (with a warning) a memory built by another audio encoder.
        threshold: probability threshold for binary predictions.
        ignore_index: label value ignored by the losses.
        data_preprocessor: ``AVSDataPreprocessor`` config.
        train_cfg / test_cfg: accepted for mmseg compatibility; ``test_cfg=dict(mode='whole')`` only.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        net: dict,
        losses: list,
        task: str = "semantic",
        semantic_memory_path: Optional[str] = None,
        require_memory: Optional[bool] = None,
        allow_memory_encoder_mismatch: bool = False,
        threshold: float = 0.5,
        ignore_index: int = 255,
        data_preprocessor: Optional[dict] = None,
        train_cfg: Optional[dict] = None,
        test_cfg: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if isinstance(data_preprocessor, dict):  # build from mmseg's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from ddeseg_layers.model import build_ddeseg

        if task not in TASKS:
            raise ValueError(f"AVSSegmentor: task must be one of {TASKS}, got {task!r}")
        net = dict(net)
        num_classes = int(net.get("num_classes", 0))
        if task == "binary" and num_classes != 1:
            raise ValueError(f"AVSSegmentor: task='binary' needs net.num_classes=1 (sigmoid), got {num_classes}")
        if task == "semantic" and num_classes < 2:
            raise ValueError(
                f"AVSSegmentor: task='semantic' needs net.num_classes >= 2 (background + classes), got {num_classes}"
            )
        if not losses:
            raise ValueError("AVSSegmentor: `losses` must list at least one loss config")
        test_cfg = dict(test_cfg or dict(mode="whole"))
        if test_cfg.get("mode", "whole") != "whole":
            raise ValueError(f"AVSSegmentor: only test_cfg.mode='whole' is supported, got {test_cfg}")
        self.task = task
        self.num_classes = num_classes
        self.threshold = float(threshold)
        self.ignore_index = int(ignore_index)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.align_corners = False
        self.net = build_ddeseg(net)
        self.losses = torch.nn.ModuleList([MODELS.build(cfg) for cfg in losses])
        for loss in self.losses:
            if not hasattr(loss, "loss_name"):
                raise ValueError(f"AVSSegmentor: loss {type(loss).__name__} has no `loss_name`")
        self.semantic_memory_path = semantic_memory_path
        uses_memory = bool(getattr(getattr(self.net, "derivation", None), "enabled", True))
        self.require_memory = uses_memory if require_memory is None else bool(require_memory)
        self.allow_memory_encoder_mismatch = bool(allow_memory_encoder_mismatch)
        if semantic_memory_path and os.path.isfile(semantic_memory_path):
            self.load_semantic_memory(semantic_memory_path)
        elif memory_is_populated(self.net.memory) and self.net.memory.provenance is not None:
            # a memory installed by net.pretrained.memory (e.g. the released bank)
            where = str((net.get("pretrained") or {}).get("memory", "net.pretrained.memory"))
            check_memory_encoder(self.net, self.net.memory, where, self.allow_memory_encoder_mismatch)

    # ------------------------------------------------------------------ memory
    def load_semantic_memory(self, path: str):
        """Install the SemanticMemory file at ``path`` (``read_memory_file``, then ``DDESeg.set_memory``): the one
        place the segmentor loads a memory file, at build time and late (``load_memory_if_appeared``). Mismatches are
        re-raised with the path; a memory built by another audio encoder is refused (``check_memory_encoder``)."""
        from ddeseg_layers.memory import read_memory_file

        try:
            mem = read_memory_file(path)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise ValueError(f"cannot read the semantic memory {path}: {exc}") from exc
        check_memory_encoder(self.net, mem, path, self.allow_memory_encoder_mismatch)
        try:
            self.net.set_memory(mem)
        except ValueError as exc:
            raise ValueError(
                f"semantic memory {path} does not fit the model: {exc}. Rebuild it for this config with "
                "`python tools/build_semantic_memory.py CONFIG` (or fix the config's memory settings); "
                "refusing to start."
            ) from exc
        return mem

    def load_memory_if_appeared(self) -> bool:
        """The late load: when the memory is still the empty placeholder and ``semantic_memory_path`` exists now
        (written after the model was built, and no checkpoint brought a memory), load it. Called by
        ``SemanticMemoryCheckHook.before_train``, after mmengine has loaded or resumed a checkpoint. True if loaded."""
        path = self.semantic_memory_path
        if memory_is_populated(self.net.memory) or not path or not os.path.isfile(path):
            return False
        self.load_semantic_memory(path)
        return True

    def check_memory(self) -> None:
        """Raise RuntimeError if the network needs the memory and it is still the empty placeholder."""
        if not self.require_memory:
            return
        if memory_is_populated(self.net.memory):
            return
        where = self.semantic_memory_path or "<semantic_memory_path not set>"
        raise RuntimeError(
            f"AVSSegmentor: the semantic memory is empty (no file at {where} and none in a loaded checkpoint). "
            "Build it first with `python tools/build_semantic_memory.py CONFIG` (or run tools/run_pipeline.py); "
            "refusing to start."
        )

    # ------------------------------------------------------------------ BaseSegmentor API
    @staticmethod
    def _split_inputs(inputs) -> tuple:
        if not isinstance(inputs, dict) or "img" not in inputs or "audio" not in inputs:
            raise TypeError("AVSSegmentor: inputs must be dict(img=[B,3,H,W], audio=...) from AVSDataPreprocessor")
        return inputs["img"], inputs["audio"]

    def extract_feat(self, inputs) -> Tensor:
        """Audio feature F_a [B, d_audio] (the visual features are internal to DDESeg's fused encoder)."""
        _, audio = self._split_inputs(inputs)
        return self.net.extract_audio_features(audio)

    def encode_decode(self, inputs, batch_data_samples=None) -> Tensor:
        img, audio = self._split_inputs(inputs)
        self.check_memory()
        return self.net(img, audio)

    def _forward(self, inputs, data_samples=None) -> Tensor:
        return self.encode_decode(inputs, data_samples)

    def _labels(self, data_samples, size) -> Tensor:
        labels = []
        for i, ds in enumerate(data_samples):
            if "gt_sem_seg" not in ds:
                raise KeyError(f"AVSSegmentor: training sample {i} ({ds.metainfo.get('img_path')}) has no gt_sem_seg")
            lab = ds.gt_sem_seg.data
            if lab.dim() == 3:
                lab = lab[0]
            labels.append(lab)
        label = torch.stack(labels, 0).long()
        if tuple(label.shape[-2:]) != tuple(size):
            label = F.interpolate(label[:, None].float(), size=size, mode="nearest")[:, 0].long()
        valid = label != self.ignore_index
        hi = 1 if self.task == "binary" else self.num_classes - 1
        bad = valid & ((label < 0) | (label > hi))
        if bad.any():
            raise ValueError(
                f"AVSSegmentor: labels must be in [0, {hi}] or {self.ignore_index} for task={self.task!r}; "
                f"found {sorted(set(label[bad].unique().tolist()))[:10]}"
            )
        return label

    def loss(self, inputs, data_samples) -> dict:
        logits = self.encode_decode(inputs, data_samples)
        label = self._labels(data_samples, logits.shape[-2:])
        out: dict = {}
        for loss_fn in self.losses:
            value = loss_fn(logits, label, ignore_index=self.ignore_index)
            name = loss_fn.loss_name
            out[name] = out[name] + value if name in out else value
        return out

    def predict(self, inputs, data_samples=None) -> list:
        logits = self.encode_decode(inputs, data_samples)
        return self.postprocess_result(logits, data_samples)

    def postprocess_result(self, seg_logits: Tensor, data_samples=None) -> list:
        """Attach ``seg_logits`` and ``pred_sem_seg`` to each data sample (see module docstring for geometry)."""
        batch, channels, h, w = seg_logits.shape
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(batch)]
        for i in range(batch):
            ds = data_samples[i]
            meta = ds.metainfo
            left, right, top, bottom = meta.get("padding_size", [0, 0, 0, 0])
            logit = seg_logits[i : i + 1, :, top : h - bottom, left : w - right]
            if "gt_sem_seg" in ds:
                size = tuple(ds.gt_sem_seg.data.shape[-2:])
            else:
                if meta.get("flip", False):
                    direction = meta.get("flip_direction", "horizontal")
                    logit = logit.flip(dims=(3,) if direction == "horizontal" else (2,))
                size = tuple(meta.get("ori_shape", logit.shape[-2:]))[:2]
            if tuple(logit.shape[-2:]) != size:
                logit = F.interpolate(logit, size=size, mode="bilinear", align_corners=False)
            logit = logit[0]
            if channels == 1:  # BINARY_SEG_LOGITS
                prob = logit.sigmoid()
                pred = (prob > self.threshold).long()
                ds.set_data(dict(seg_logits=PixelData(data=prob), pred_sem_seg=PixelData(data=pred)))
            else:
                pred = logit.argmax(dim=0, keepdim=True)
                ds.set_data(dict(seg_logits=PixelData(data=logit), pred_sem_seg=PixelData(data=pred)))
        return data_samples
