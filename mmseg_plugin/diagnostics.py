"""Diagnostics of the main job (``tools/run_pipeline.py``): floors, a visual-only ceiling, and how much a trained
AVS model listens to its audio.

No paper equation. Every row is scored by ``AVSMetric`` on the same split, dataset and test pipeline as the model:

* :func:`all_background_metrics` -- the prediction is background everywhere: the floor a model must clear.
* :func:`visual_oracle_metrics` -- the prediction is every *visible* object with its class, sounding or silent
  (``<clip>/labels_visible/<i>.png`` of the synthetic generators, read through the dataset's own pipeline, so it is
  resized exactly as the ground truth): the best a model that segments perfectly but ignores the audio can score.
  Undefined for real datasets (no visible-object maps): ``None``.
* :func:`audio_dependence` -- the trained checkpoint through the test path (the config's test dataloader and
  pipeline, ``model.test_step``, the ``AVSMetric`` evaluator: the loop of mmengine's ``TestLoop``) with the audio
  zeroed and with the audio shuffled across clips (``AblateAudio``; each frame gets the window of the frame at the
  same position in another clip, a seeded derangement of the clips, so no clip keeps its own sound). A model that
  uses its audio drops on both; one that ignores it does not move.
* :func:`class_oracle_metrics` -- the trained checkpoint's own test masks with every class that does not sound in
  the frame (absent from its ground truth) set to background: what perfect class-level listening would score with
  this model's visual half. The gap between the model and this row is what better use of the sound can still win at
  fixed masks; the gap between this row and 100 is the masks' own quality (visual errors, wrong-class fragments of
  sounding classes, missed sounding objects).
* :func:`heard_class_metrics` -- the same masks with every class the stage-1 audio tagger does not hear in the
  frame set to background: what the model would score if it followed its own audio encoder's class decisions.
  ``classes given`` - this row is what the encoder's tagging errors cost; this row - the model is what DDESeg loses
  on top of them.
* :func:`floor_warning` -- a loud text when a model's J&F is within ``FLOOR_MARGIN`` points of the all-background
  floor, naming the likely causes the other rows point at.

Shapes: predictions and ground truth are ``[H, W]`` int64 class maps at the ground truth's size after the test
pipeline (semantic: 0 = background, 1..C-1 classes; binary: 0 / 1; 255 = ignore in the ground truth only).
"""

from __future__ import annotations

import copy
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from .config_utils import plain as _plain
from .datasets.synthetic import VISIBLE_FOLDER
from .models.segmentor import BINARY_SEG_LOGITS

__all__ = [
    "FLOOR_MARGIN",
    "SPLITS",
    "all_background_metrics",
    "visual_oracle_metrics",
    "visible_label_path",
    "is_synthetic_dataset",
    "score_predictions",
    "derangement",
    "shuffled_audio_donors",
    "ablated_audio_cfg",
    "load_model",
    "evaluate_checkpoint",
    "audio_dependence",
    "keep_sounding_classes",
    "class_oracle_metrics",
    "load_audio_classifier",
    "heard_classes",
    "heard_class_metrics",
    "main_jf",
    "floor_warning",
]

FLOOR_MARGIN = 2.0  # J&F points above the all-background floor under which the main job warns
SPLITS = ("train", "val", "test")


def _loader_key(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"{split}_dataloader"


def split_dataset_cfg(cfg, split: str) -> dict:
    """Plain dataset config of ``cfg.<split>_dataloader`` (ValueError naming the key when absent)."""
    loader = cfg.get(_loader_key(split), None)
    if not loader:
        raise ValueError(f"the config has no {_loader_key(split)}")
    return _plain(loader["dataset"])


def _avs_metric_cfg(cfg, split: str) -> dict:
    """The ``AVSMetric`` entry of the split's evaluator (val -> val_evaluator, otherwise test_evaluator)."""
    ev = cfg.get("val_evaluator" if split == "val" else "test_evaluator", None)
    if ev is None:
        ev = cfg.get("test_evaluator", None) or cfg.get("val_evaluator", None)
    entries = _plain(ev) if isinstance(ev, (list, tuple)) else [_plain(ev)] if ev else []
    for e in entries:
        if e.get("type") == "AVSMetric":
            return e
    raise ValueError(f"the config's evaluator for the {split} split has no AVSMetric entry: {entries}")


def _is_binary(cfg) -> bool:
    return cfg.model.get("task", "semantic") == "binary"


def _hard_scores(pred: torch.Tensor, num_channels: int, binary_score: str) -> torch.Tensor:
    """``seg_logits`` [C, H, W] consistent with a hard prediction (AVSMetric's binary F reads them)."""
    if num_channels == 1:
        p = (pred > 0).float()[None]
        return p if binary_score == "probabilities" else (2 * p - 1) * 30.0
    return torch.nn.functional.one_hot(pred.clamp(min=0), num_channels).permute(2, 0, 1).float()


def score_predictions(
    cfg, split: str, predict: Callable[[Any, int, dict], Optional[torch.Tensor]], dataset=None
) -> Dict[str, Any]:
    """``AVSMetric`` of ``predict(dataset, index, item) -> [H, W]`` int64 maps over the split's labelled frames.

    ``item`` is ``dataset[index]`` (the test pipeline's output); ``predict`` returns a map of the ground truth's
    size, or None for frames without a label (those are skipped by the metric anyway).
    """
    from mmengine.structures import PixelData
    from mmseg.registry import DATASETS, METRICS

    from .memory_builder import ensure_mmseg_scope

    ensure_mmseg_scope()
    ds = dataset if dataset is not None else DATASETS.build(split_dataset_cfg(cfg, split))
    mcfg = _avs_metric_cfg(cfg, split)
    metric = METRICS.build(mcfg)
    metric.dataset_meta = ds.metainfo
    binary = _is_binary(cfg)
    channels = 1 if binary else len(ds.metainfo["classes"])
    samples = []
    for i in range(len(ds)):
        item = ds[i]
        s = item["data_samples"]
        if not s.metainfo.get("has_label", True):
            samples.append(s.to_dict())
            continue
        gt = s.gt_sem_seg.data
        pred = predict(ds, i, item)
        if pred is None:
            raise ValueError(f"{s.metainfo.get('img_path')}: the prediction function gave None for a labelled frame")
        pred = torch.as_tensor(pred).long()
        if pred.dim() == 3 and pred.shape[0] == 1:
            pred = pred[0]
        if tuple(pred.shape) != tuple(gt.shape[-2:]):
            raise ValueError(
                f"{s.metainfo.get('img_path')}: prediction {tuple(pred.shape)} differs from ground truth "
                f"{tuple(gt.shape[-2:])}"
            )
        if binary:
            pred = (pred > 0).long()
        s.pred_sem_seg = PixelData(data=pred[None])
        s.seg_logits = PixelData(data=_hard_scores(pred, channels, mcfg.get("binary_score", BINARY_SEG_LOGITS)))
        samples.append(s.to_dict())
    metric.process([], samples)
    return metric.evaluate(len(samples))


def all_background_metrics(cfg, split: str = "test") -> Dict[str, Any]:
    """AVSMetric of a prediction that is background everywhere (the floor a model must clear)."""
    return score_predictions(
        cfg, split, lambda ds, i, item: torch.zeros(item["data_samples"].gt_sem_seg.data.shape[-2:], dtype=torch.long)
    )


def visible_label_path(img_path: str) -> str:
    """``<clip>/frames/<i>.jpg`` -> ``<clip>/labels_visible/<i>.png``."""
    clip = osp.dirname(osp.dirname(img_path))
    return osp.join(clip, VISIBLE_FOLDER, osp.splitext(osp.basename(img_path))[0] + ".png")


def is_synthetic_dataset(ds_cfg: dict) -> bool:
    """True when the dataset's ``data_root`` holds a generated synthetic set (its generator manifest)."""
    from .synthetic.generator import MANIFEST_NAME

    root = ds_cfg.get("data_root")
    return bool(root) and osp.isfile(osp.join(root, MANIFEST_NAME))


def visual_oracle_metrics(cfg, split: str = "test") -> Optional[Dict[str, Any]]:
    """AVSMetric of the visible-objects maps used as predictions (every on-screen object, audio ignored).

    Returns None for datasets that are not generated synthetic sets (the oracle is undefined there). A synthetic set
    without ``labels_visible/`` (generated before the generator wrote it) is a FileNotFoundError naming the folder.
    """
    from mmseg.registry import DATASETS

    from .memory_builder import ensure_mmseg_scope

    ds_cfg = split_dataset_cfg(cfg, split)
    ensure_mmseg_scope()
    ds = DATASETS.build(ds_cfg)  # generates a synthetic set on first use, so the manifest check below sees it
    if not is_synthetic_dataset(ds_cfg):
        return None
    for i in range(len(ds)):  # check every frame before scoring: one clear error instead of a pipeline failure
        info = ds.get_data_info(i)
        if not info.get("has_label", True):
            continue
        path = visible_label_path(info["img_path"])
        if not osp.isfile(path):
            folder = osp.dirname(path)
            what = "has no" if not osp.isdir(folder) else f"lacks {osp.basename(path)} in"
            raise FileNotFoundError(
                f"visual-only oracle: clip {info.get('clip_id')!r} {what} {folder} (the visible-objects maps, "
                f"written by the synthetic generator since version 2). The set in {ds_cfg.get('data_root')} was "
                "generated before: delete that folder and rerun (tools/run_pipeline.py regenerates it in stage 0)"
            )

    def predict(dset, i, item):
        info = dset.get_data_info(i)
        info["seg_map_path"] = visible_label_path(info["img_path"])
        info["label_format"] = "index"
        out = dset.pipeline(info)
        return out["data_samples"].gt_sem_seg.data[0]

    return score_predictions(cfg, split, predict, dataset=ds)


def derangement(n: int, seed: int = 0) -> List[int]:
    """A seeded permutation of ``range(n)`` without fixed points (Sattolo's algorithm: one n-cycle), n >= 2."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 items (clips), got {n}")
    rng = np.random.default_rng(seed)
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: the swap never leaves i in place
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def shuffled_audio_donors(dataset, seed: int = 0) -> List[dict]:
    """``AblateAudio`` donor entries: frame k of clip c hears frame k (modulo its length) of clip ``perm[c]``.

    Clips are taken in dataset order; ``perm = derangement(number of clips, seed)``.
    """
    from .datasets.transforms.audio_ablation import DONOR_KEYS

    clips: Dict[str, List[dict]] = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        cid = info.get("clip_id")
        if cid is None:
            raise ValueError(f"dataset item {i} ({info.get('img_path')}) has no clip_id: cannot shuffle audio by clip")
        clips.setdefault(str(cid), []).append(info)
    names = list(clips)
    perm = derangement(len(names), seed)
    entries = []
    for c, name in enumerate(names):
        frames = sorted(clips[name], key=lambda d: int(d.get("frame_index", 0)))
        donor_frames = sorted(clips[names[perm[c]]], key=lambda d: int(d.get("frame_index", 0)))
        for k, info in enumerate(frames):
            donor = donor_frames[k % len(donor_frames)]
            entries.append(
                dict(
                    clip_id=name,
                    frame_index=int(info.get("frame_index", 0)),
                    donor={key: _plain(donor[key]) for key in DONOR_KEYS if key in donor},
                )
            )
    return entries


def ablated_audio_cfg(cfg, mode: str, seed: int = 0, split: str = "test"):
    """A copy of ``cfg`` whose ``test_dataloader`` reads ``split`` with ``AblateAudio`` right after ``LoadAudioWindow``
    (``mode``: ``"zeroed"`` or ``"shuffled"``), and whose ``test_evaluator`` is its ``AVSMetric`` alone."""
    from mmseg.registry import DATASETS

    from .datasets.transforms import audio_ablation  # noqa: F401  (registers AblateAudio)
    from .memory_builder import ensure_mmseg_scope

    if mode not in ("zeroed", "shuffled"):
        raise ValueError(f"audio ablation mode must be 'zeroed' or 'shuffled', got {mode!r}")
    cfg = copy.deepcopy(cfg)
    ds_cfg = split_dataset_cfg(cfg, split)
    pipeline = list(ds_cfg["pipeline"])
    where = [k for k, t in enumerate(pipeline) if t.get("type") == "LoadAudioWindow"]
    if len(where) != 1:
        raise ValueError(f"the {split} pipeline must hold exactly one LoadAudioWindow, found {len(where)}: {pipeline}")
    if mode == "zeroed":
        step = dict(type="AblateAudio", mode="zero")
    else:
        ensure_mmseg_scope()
        donors = shuffled_audio_donors(DATASETS.build(ds_cfg), seed)
        step = dict(type="AblateAudio", mode="donor", donors=donors, loader=dict(pipeline[where[0]]))
    pipeline.insert(where[0] + 1, step)
    ds_cfg["pipeline"] = pipeline
    loader = _plain(cfg.get(_loader_key(split)))
    loader["dataset"] = ds_cfg
    cfg.test_dataloader = loader
    cfg.test_evaluator = _avs_metric_cfg(cfg, split)
    return cfg


def load_model(cfg, checkpoint: str):
    """``checkpoint`` loaded for evaluation (weights and semantic memory; ``mmseg_plugin.inference.init_model``), on
    the GPU when there is one: the model the re-evaluations below share."""
    from .inference import init_model

    model, _ = init_model(cfg, checkpoint, device="cuda" if torch.cuda.is_available() else "cpu")
    return model


def evaluate_checkpoint(
    cfg, checkpoint: str, model=None, transform: Optional[Callable[[Any], Any]] = None
) -> Dict[str, Any]:
    """Test metrics of ``checkpoint`` with ``cfg``'s test dataloader and evaluator, the loop of mmengine's
    ``TestLoop`` (dataloader -> ``model.test_step`` -> ``Evaluator.process``; ``evaluate``) without a Runner's set-up
    (config dump, environment report, visualizer: seconds per run). ``model``: an already loaded model
    (:func:`load_model`), else the checkpoint is loaded here (weights and semantic memory).
    ``transform``: applied to each predicted data sample before the evaluator sees it."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner

    from .memory_builder import ensure_mmseg_scope

    ensure_mmseg_scope()
    if model is None:
        model = load_model(cfg, checkpoint)
    loader = Runner.build_dataloader(_plain(cfg.test_dataloader), seed=0)
    evaluator = Evaluator(_plain(cfg.test_evaluator))
    evaluator.dataset_meta = loader.dataset.metainfo
    model.eval()
    with torch.no_grad():
        for batch in loader:
            samples = model.test_step(batch)
            if transform is not None:
                samples = [transform(x) for x in samples]
            evaluator.process(data_samples=samples, data_batch=batch)
    return evaluator.evaluate(len(loader.dataset))


def audio_dependence(cfg, checkpoint: str, seed: int = 0, split: str = "test", model=None) -> Dict[str, Dict]:
    """Test metrics of ``checkpoint`` with its audio zeroed and shuffled across clips: dict(zeroed=..., shuffled=...).

    The checkpoint is loaded once (or ``model`` is used) for both evaluations.
    """
    if model is None:
        model = load_model(cfg, checkpoint)
    return {
        mode: evaluate_checkpoint(ablated_audio_cfg(cfg, mode, seed=seed, split=split), checkpoint, model=model)
        for mode in ("zeroed", "shuffled")
    }


def _keep_classes(sample, present: torch.Tensor, binary: bool, binary_score: str):
    """``sample`` with every predicted class not in ``present`` set to background (0), in place (see
    :func:`keep_sounding_classes` for the scores)."""
    from mmengine.structures import PixelData

    pred = sample.pred_sem_seg.data
    present = present.to(pred.device)
    kept = torch.where(torch.isin(pred, present), pred, torch.zeros_like(pred))
    sample.pred_sem_seg = PixelData(data=kept)
    if "seg_logits" in sample:
        if not binary or not bool((present > 0).any()):
            channels = sample.seg_logits.data.shape[0]
            sample.seg_logits = PixelData(data=_hard_scores(kept[0], channels, binary_score))
    return sample


def keep_sounding_classes(sample, binary: bool = False, binary_score: str = BINARY_SEG_LOGITS):
    """``sample`` (a predicted ``SegDataSample``) with every predicted class absent from its ground truth set to
    background (0), in place; returned. ``pred_sem_seg.data [1, H, W]`` and ``gt_sem_seg.data [1, H, W]`` must have
    the same size (ignore pixels, 255, do not make a class present). ``seg_logits`` follow: semantic tasks get the
    one-hot map of the kept prediction; binary ones (``binary=True``) keep their scores unless the frame has no
    sounding pixel, where they become certain background (the F curve reads them). Frames without a label
    (``has_label`` False) are returned unchanged."""
    if not sample.metainfo.get("has_label", True):
        return sample
    pred, gt = sample.pred_sem_seg.data, sample.gt_sem_seg.data
    if pred.shape[-2:] != gt.shape[-2:]:
        raise ValueError(
            f"{sample.metainfo.get('img_path')}: prediction {tuple(pred.shape[-2:])} and ground truth "
            f"{tuple(gt.shape[-2:])} differ in size"
        )
    gt = gt.to(pred.device)
    return _keep_classes(sample, torch.unique(gt[gt != 255]), binary, binary_score)


def class_oracle_metrics(cfg, checkpoint: str, split: str = "test", model=None) -> Dict[str, Any]:
    """AVSMetric of ``checkpoint``'s own predictions on ``split`` after :func:`keep_sounding_classes`: the model's
    masks with perfect class-level listening (an upper bound of what the sound can add at fixed masks)."""
    cfg = copy.deepcopy(cfg)
    loader = _plain(cfg.get(_loader_key(split)))
    cfg.test_dataloader = loader
    mcfg = _avs_metric_cfg(cfg, split)
    cfg.test_evaluator = mcfg
    binary, score = _is_binary(cfg), mcfg.get("binary_score", BINARY_SEG_LOGITS)
    return evaluate_checkpoint(
        cfg, checkpoint, model=model, transform=lambda x: keep_sounding_classes(x, binary=binary, binary_score=score)
    )


def load_audio_classifier(cfg, checkpoint: str):
    """The stage-1 classifier of ``cfg`` (``audio_classifier.model``, an ``AVSAudioClassifier``) with the weights of
    ``checkpoint`` (a runner checkpoint of stage 1, e.g. ``<work_dir>/audio_classifier/iter_1000.pth``), strictly, in
    eval mode on the CPU."""
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    from .audio_stage import audio_settings

    mcfg = copy.deepcopy(audio_settings(cfg)["model"])
    mcfg.setdefault("data_preprocessor", _plain(cfg.model.data_preprocessor))
    model = MODELS.build(mcfg)
    load_checkpoint(model, checkpoint, map_location="cpu", strict=True, logger="silent")
    return model.eval()


def heard_classes(classifier, dataset, threshold: float = 0.5) -> Dict[str, torch.Tensor]:
    """``{img_path: class ids}`` of every frame of ``dataset``: background (0) and each class ``c`` whose stage-1
    score (``audio_scores[c - 1]``, a sigmoid probability) exceeds ``threshold``. Semantic classifiers only (a
    binary task's classifier tags categories, not mask classes: ValueError)."""
    from .audio_stage import audio_scores

    if getattr(classifier, "class_names", None):
        raise ValueError("heard_classes: the classifier tags categories (a binary task), not the mask's classes")
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"heard_classes: threshold must lie in (0, 1), got {threshold}")
    scores, _, _ = audio_scores(classifier, dataset)
    out = {}
    for i in range(len(dataset)):
        fg = torch.nonzero(scores[i] > threshold).flatten() + 1
        out[dataset.get_data_info(i)["img_path"]] = torch.cat([torch.zeros(1, dtype=torch.long), fg.long()])
    return out


def heard_class_metrics(
    cfg, checkpoint: str, classifier_checkpoint: str, threshold: float = 0.5, split: str = "test", model=None
) -> Optional[Dict[str, Any]]:
    """AVSMetric of ``checkpoint``'s own predictions on ``split`` with every class the stage-1 tagger does not hear
    in the frame (score <= ``threshold``) set to background: the model's masks filtered by the audio encoder's own
    class decisions. Beside :func:`class_oracle_metrics` (perfect listening) it splits the listening gap: the part
    the stage-1 encoder's errors explain (``classes given`` - this row) and the part DDESeg loses on top of what its
    audio encoder already tells apart (this row - the model). None for binary tasks (no classes to filter)."""
    from mmseg.registry import DATASETS

    if _is_binary(cfg):
        return None
    cfg = copy.deepcopy(cfg)
    loader = _plain(cfg.get(_loader_key(split)))
    cfg.test_dataloader = loader
    cfg.test_evaluator = _avs_metric_cfg(cfg, split)
    heard = heard_classes(
        load_audio_classifier(cfg, classifier_checkpoint), DATASETS.build(loader["dataset"]), threshold
    )

    def transform(sample):
        path = sample.metainfo.get("img_path")
        if path not in heard:
            raise KeyError(f"{path}: no stage-1 scores for this frame")
        return _keep_classes(sample, heard[path], False, BINARY_SEG_LOGITS)

    return evaluate_checkpoint(cfg, checkpoint, model=model, transform=transform)


def main_jf(metrics: Optional[dict]) -> Optional[float]:
    """The J&F of a metric dict: AVSMetric's main ``J&F`` (its configured convention), else a prefixed one."""
    if not metrics:
        return None
    for key in ("J&F", "avsbench/J&F", "dataset/J&F"):
        v = metrics.get(key)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def floor_warning(
    split: str,
    model: Optional[dict],
    floor: Optional[dict],
    *,
    zeroed: Optional[dict] = None,
    shuffled: Optional[dict] = None,
    oracle: Optional[dict] = None,
    audio_map: Optional[float] = None,
    baseline_map: Optional[float] = None,
    margin: float = FLOOR_MARGIN,
) -> Optional[str]:
    """A loud multi-line warning when the model's J&F is within ``margin`` points of the all-background floor on
    ``split``, else None. The causes are ordered by the evidence the other diagnostics give."""
    m, f = main_jf(model), main_jf(floor)
    if m is None or f is None or m - f > margin:
        return None
    causes: List[str] = []
    z, s = main_jf(zeroed), main_jf(shuffled)
    if z is not None and s is not None and max(abs(m - z), abs(m - s)) < 1.0:
        causes.append(
            f"the model does not use its audio: zeroed audio gives J&F {z:.2f}, shuffled audio {s:.2f}, "
            f"its own audio {m:.2f}; a model that cannot tell which object sounds is pushed towards background"
        )
    if audio_map is not None and baseline_map is not None and audio_map <= baseline_map:
        causes.append(
            f"the stage-1 audio encoder (val mAP {audio_map:.2f}) is no better than the CNN baseline "
            f"({baseline_map:.2f}): its features, the semantic memory built from them and the DDM tokens carry "
            "little class information (check with tools/analyze_audio.py CONFIG CHECKPOINT)"
        )
    elif audio_map is not None:
        causes.append(
            f"stage-1 val mAP is {audio_map:.2f}: if that is near chance the audio features, the semantic memory and "
            "the DDM tokens carry little class information (tools/analyze_audio.py CONFIG CHECKPOINT probes them)"
        )
    o = main_jf(oracle)
    if o is not None:
        causes.append(
            f"the visual-only oracle (every visible object, audio ignored) scores {o:.2f}: the gap between it and "
            "the floor is what must come from vision; what lies above it must come from the sound"
        )
    causes += [
        "training too short or the learning rate too low / high for this model (compare the loss curve in "
        "<work_dir>/ddeseg/*/vis_data/scalars.json)",
        "the background dominates the loss and the model collapsed to it (class balance, loss weights)",
        "audio windows not aligned with their frames, or labels decoded wrongly (tools/check_dataset.py; "
        "docs/datasets.md)",
        "the audio encoder checkpoint or the semantic memory were not the ones stage 1 / 2 produced",
    ]
    bar = "!" * 100
    lines = [
        bar,
        f"WARNING: {split} J&F {m:.2f} is within {margin:g} points of the all-background floor {f:.2f}: "
        "the model has learned (almost) nothing beyond predicting background.",
        "Likely causes:",
    ]
    lines += [f"  {k + 1}. {c}" for k, c in enumerate(causes)]
    lines.append(bar)
    return "\n".join(lines)


def metric_subset(metrics: Optional[dict], keys: Sequence[str] = ()) -> Optional[dict]:
    """The numeric entries of a metric dict as floats (for summary.json), or None."""
    if metrics is None:
        return None
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and (not keys or k in keys)}
