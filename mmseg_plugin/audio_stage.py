"""Stage 1 of the recipe: the audio classifier's runner config and its val mAP.

``tools/run_pipeline.py`` (stage ``audio``) and ``benchmarks/bench_audio_baseline.py`` both train the stage-1
audio classifier (``AVSAudioClassifier``, or the log-mel CNN baseline) through mmengine's Runner with
``audio_runner_cfg`` and score it with ``evaluate_audio_map``:

* ``audio_runner_cfg(cfg, work_dir, max_iters)``: an mmengine ``Config`` built from the ``audio_classifier`` dict of a
  DDESeg config (``model``, ``max_iters``, ``batch_size``, ``lr``, ``weight_decay``, ``warmup_iters``,
  ``eta_min_ratio``, ``seed``, optional ``dataset``) and its train dataloader (InfiniteSampler, shuffled).
* ``evaluate_audio_map(model, cfg)``: sigmoid scores ``[N, C_fg]`` of the classifier on every labelled frame of the
  val split (test split when there is no val), through the config's deterministic pipeline; returns the macro mAP
  (percent) and the per-class AP.
* ``stage1_baseline_map(cfg, work_dir)``: the val mAP of the log-mel CNN baseline trained in the same budget as the
  config's stage 1 (cached in ``<work_dir>/audio_baseline.json``), shown beside the stage-1 encoder's mAP.
"""

from __future__ import annotations

import copy
import json
import os
import os.path as osp
import time
from typing import Optional

from .config_utils import plain as _plain


def audio_settings(cfg) -> dict:
    """The config's ``audio_classifier`` dict as plain Python (a clear error when the config has none)."""
    clf = cfg.get("audio_classifier", None)
    if not clf:
        raise ValueError(f"{getattr(cfg, 'filename', 'config')}: no `audio_classifier` dict (stage 1 settings)")
    clf = _plain(clf)
    if "model" not in clf:
        raise ValueError(f"{getattr(cfg, 'filename', 'config')}: `audio_classifier` has no `model`")
    return clf


def audio_runner_cfg(
    cfg,
    work_dir: str,
    max_iters: Optional[int] = None,
    *,
    model: Optional[dict] = None,
    seed: Optional[int] = None,
    overrides: Optional[dict] = None,
):
    """mmengine ``Config`` training the stage-1 classifier of ``cfg`` for ``max_iters`` (default: the config's).

    Args:
        cfg: a DDESeg config with an ``audio_classifier`` dict.
        work_dir: the runner's work dir.
        max_iters: iterations (None: ``audio_classifier.max_iters``, default 1000).
        model: replaces ``audio_classifier.model`` (e.g. the log-mel CNN baseline's classifier).
        seed: replaces ``audio_classifier.seed`` (default 0).
        overrides: replaces keys of the ``audio_classifier`` dict (``lr``, ``batch_size``, ...).
    """
    from mmengine.config import Config

    clf = audio_settings(cfg)
    clf.update(overrides or {})
    iters = int(max_iters or clf.get("max_iters", 1000))
    loader = copy.deepcopy(_plain(cfg.train_dataloader))
    if clf.get("dataset"):
        ds = copy.deepcopy(clf["dataset"])
        ds.setdefault("pipeline", loader["dataset"]["pipeline"])
        loader["dataset"] = ds
    loader["batch_size"] = int(clf.get("batch_size", loader["batch_size"]))
    loader["sampler"] = dict(type="InfiniteSampler", shuffle=True)
    model = copy.deepcopy(model if model is not None else clf["model"])
    model.setdefault("data_preprocessor", _plain(cfg.model.data_preprocessor))
    warmup = int(clf.get("warmup_iters", 0))
    if warmup >= iters:
        raise ValueError(f"audio_classifier: warmup_iters={warmup} must be below the {iters} iterations")
    schedulers = []
    if warmup > 0:
        schedulers.append(dict(type="LinearLR", start_factor=1e-2, by_epoch=False, begin=0, end=warmup))
    schedulers.append(
        dict(
            type="CosineAnnealingLR",
            T_max=iters - warmup,
            by_epoch=False,
            begin=warmup,
            end=iters,
            eta_min_ratio=float(clf.get("eta_min_ratio", 0.05)),
        )
    )
    rc = dict(
        default_scope="mmseg",
        work_dir=work_dir,
        model=model,
        train_dataloader=loader,
        optim_wrapper=dict(
            optimizer=dict(
                type="AdamW", lr=float(clf.get("lr", 1e-4)), weight_decay=float(clf.get("weight_decay", 0.01))
            ),
            paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
            clip_grad=dict(max_norm=float(clf["clip_grad"])) if clf.get("clip_grad") else None,
        ),
        param_scheduler=schedulers,
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=iters),
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=25, log_metric_by_epoch=False),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=iters, max_keep_ckpts=1),
        ),
        log_processor=dict(by_epoch=False),
        env_cfg=_plain(cfg.get("env_cfg", {})),
        randomness=dict(seed=int(seed if seed is not None else clf.get("seed", 0))),
        launcher="none",
    )
    if rc["optim_wrapper"]["clip_grad"] is None:
        del rc["optim_wrapper"]["clip_grad"]
    return Config(rc)


def eval_dataset(cfg):
    """The labelled split stage 1 is scored on (val, else test) with the config's deterministic pipeline, or None."""
    from mmseg.registry import DATASETS

    from mmseg_plugin.memory_builder import test_pipeline

    loader = cfg.get("val_dataloader", None) or cfg.get("test_dataloader", None)
    if not loader:
        return None
    ds_cfg = _plain(loader["dataset"])
    ds_cfg["pipeline"] = test_pipeline(cfg)
    return DATASETS.build(ds_cfg)


def audio_scores(model, dataset, batch_size: int = 32) -> tuple:
    """Sigmoid scores ``[N, C_fg]``, targets ``[N, C_fg]`` and label weights ``[N]`` of ``model`` on ``dataset``."""
    import torch
    from mmengine.dataset import pseudo_collate

    was_training = model.training
    model.eval()
    scores, targets, weights = [], [], []
    with torch.no_grad():
        for b0 in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(b0, min(len(dataset), b0 + batch_size))]
            batch = model.data_preprocessor(pseudo_collate(items))
            for s in model(batch["inputs"], batch["data_samples"], mode="predict"):
                scores.append(s.audio_scores)
                targets.append(s.audio_targets)
                weights.append(s.metainfo["audio_label_weight"])
    model.train(was_training)
    return torch.stack(scores), torch.stack(targets), torch.tensor(weights)


def evaluate_audio_map(model, cfg, dataset=None) -> Optional[dict]:
    """Val (else test) mAP of a stage-1 classifier: ``dict(mAP=percent, per_class_AP={name: percent}, n=frames)``.

    Only frames with a label (weight > 0) count; classes without a positive frame are left out of the mean and
    reported as None. Returns None when the config has neither a val nor a test split.
    """
    from sklearn.metrics import average_precision_score

    from mmseg_plugin.models.audio_classifier import audio_tagging_map

    ds = dataset if dataset is not None else eval_dataset(cfg)
    if ds is None:
        return None
    scores, targets, weights = audio_scores(model, ds)
    keep = weights > 0
    scores, targets = scores[keep], targets[keep]
    names = list(getattr(model, "class_names", None) or list(ds.metainfo["classes"])[1:])
    if len(names) != targets.shape[1]:
        names = [f"class_{i + 1}" for i in range(targets.shape[1])]
    per_class = {}
    for c, name in enumerate(names):
        if targets[:, c].sum() > 0:
            ap = average_precision_score(targets[:, c].numpy(), scores[:, c].numpy())
            per_class[name] = round(100 * float(ap), 2)
        else:
            per_class[name] = None
    return dict(mAP=round(100 * audio_tagging_map(scores, targets), 2), per_class_AP=per_class, n=int(keep.sum()))


def train_audio_classifier(rcfg) -> tuple:
    """Train the classifier of runner config ``rcfg``; returns (model, wall seconds)."""
    from mmengine.runner import Runner

    t0 = time.time()
    runner = Runner.from_cfg(rcfg)
    runner.train()
    return runner.model, time.time() - t0


# --- the log-mel CNN baseline beside stage 1 ---------------------------------------------------------------------


def baseline_classifier_model(cfg) -> dict:
    """The log-mel CNN baseline as an ``AVSAudioClassifier`` config with the stage-1 classifier's targets.

    ``audio_classifier.baseline`` may override the baseline's ``LogMelCNN`` kwargs (``type`` "logmel_cnn").
    """
    clf = audio_settings(cfg)
    model = copy.deepcopy(clf["model"])
    audio = dict(type="logmel_cnn", frozen=False)  # trained from scratch like the stage-1 encoder
    sr = model.get("audio", {}).get("sample_rate") or _sample_rate(cfg)
    if sr:
        audio["sample_rate"] = int(sr)
    audio.update(clf.get("baseline", {}) or {})
    model["audio"] = audio
    for k in ("augment",):  # the baseline is the plain recipe: no augmentation
        model.pop(k, None)
    return model


def _sample_rate(cfg) -> Optional[int]:
    for step in _plain(cfg.train_dataloader)["dataset"].get("pipeline", []):
        if step.get("type") == "LoadAudioWindow" and step.get("sample_rate"):
            return int(step["sample_rate"])
    return None


def baseline_overrides(cfg) -> dict:
    """The baseline's optimiser settings: the stage-1 budget (iterations x batch) with AdamW at lr 1e-3, no decay
    schedule tricks: cosine without warm-up, weight decay 0.01 (``audio_classifier.baseline_optim`` overrides)."""
    clf = audio_settings(cfg)
    out = dict(lr=1e-3, weight_decay=0.01, warmup_iters=0, clip_grad=None)
    out.update(clf.get("baseline_optim", {}) or {})
    return out


def stage1_baseline_map(cfg, work_dir: str, seed: int = 0, force: bool = False) -> Optional[float]:
    """Val mAP (percent) of the log-mel CNN baseline trained in the config's stage-1 budget (same iterations and
    batch as ``audio_classifier``); cached in ``<work_dir>/audio_baseline.json`` (keyed by config settings).

    Returns None when the config has no ``audio_classifier`` or no val/test split.
    """
    if not cfg.get("audio_classifier", None):
        return None
    ds = eval_dataset(cfg)
    if ds is None:
        return None
    clf = audio_settings(cfg)
    model = baseline_classifier_model(cfg)
    over = baseline_overrides(cfg)
    key = json.dumps(
        dict(model=model, over=over, iters=clf.get("max_iters"), batch=clf.get("batch_size"), seed=seed),
        sort_keys=True,
        default=str,
    )
    cache = osp.join(work_dir, "audio_baseline.json")
    if osp.isfile(cache) and not force:
        with open(cache) as f:
            got = json.load(f)
        if got.get("key") == key:
            return got["mAP"]
    rcfg = audio_runner_cfg(cfg, osp.join(work_dir, "audio_baseline"), model=model, seed=seed, overrides=over)
    net, seconds = train_audio_classifier(rcfg)
    res = evaluate_audio_map(net, cfg, ds)
    os.makedirs(work_dir, exist_ok=True)
    with open(cache, "w") as f:
        json.dump(dict(key=key, mAP=res["mAP"], per_class_AP=res["per_class_AP"], train_s=round(seconds, 1)), f)
    return res["mAP"]
