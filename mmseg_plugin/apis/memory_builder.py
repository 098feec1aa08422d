"""Build the DDM semantic memory (paper §3.1 Step 1, eqs. 2-4) from a config's training set.

Used by ``tools/build_semantic_memory.py`` and ``tools/run_pipeline.py`` (stage 2).

1. **Dataset**: ``cfg.memory_builder.dataset`` if given (MS3 configs use the S4 training set), else the training
   set (``cfg.train_dataloader.dataset``); either way with the deterministic test pipeline (no augmentation).
2. **Single-source frames** (``single_source_label``; ``label_task`` overrides the model's task, e.g. "semantic"
   for the binary S4 / MS3 configs whose 71-class memory comes from the AVSS training set): semantic tasks keep the
   labelled frames whose mask holds
   exactly one non-background class (255 = ignore is not a class); that class is the frame's label. Binary tasks
   (S4/MS3 masks carry no class) keep every frame with a ``category`` in its metainfo / data_info (S4 clips are
   single-source by construction) and label it with the category's index in ``class_names`` (no background row).
   Frames with two or more sounding classes, all-background frames and unlabelled frames are skipped (counted).
3. **Features**: the configured audio backbone (``cfg.model.net.audio``, with ``checkpoint`` replaced by the
   stage-1 encoder when given) runs in eval mode on each kept frame's audio window -> F_a [N, d].
4. **Cache**: the pass is split into chunks of ``chunk_size`` dataset items; each chunk's features, labels and
   dataset indices go to ``cache_dir/chunk_<k>.pt`` and ``manifest.json`` records a signature (audio config,
   checkpoint size/mtime, dataset length, task). A rerun with the same signature skips the chunks already on disk,
   so an interrupted build resumes; another signature clears the cache.
5. **Memory**: ``SemanticMemory.build(features, labels, num_clusters=k, num_reps=m, seed, num_classes=C)`` with C and
   R = k * m checked against ``cfg.model.net.memory`` *before* anything is written; saved to
   ``cfg.semantic_memory_path`` (``SemanticMemory.save``, readable weights-only).
6. **Provenance**: the saved memory records ``audio_encoder_fingerprint`` of the encoder that produced its features
   (weights hash and front-end settings) and that encoder's checkpoint path; ``AVSSegmentor`` refuses the memory
   next to any other encoder (``ddeseg_layers.memory.check_provenance``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Optional, Sequence

import torch

from ..config_utils import plain as _to_plain
from .scope import ensure_mmseg_scope

DEFAULTS = dict(
    num_clusters=5,
    reps_per_cluster=1,
    seed=0,
    batch_size=16,
    chunk_size=512,
    cache_dir=None,
    dataset=None,
    category_key="category",
    ignore_index=255,
    label_task=None,
)


def builder_settings(cfg) -> dict:
    """``cfg.memory_builder`` merged over ``DEFAULTS`` (unknown keys are an error)."""
    user = dict(cfg.get("memory_builder", None) or {})
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"memory_builder: unknown keys {unknown}; allowed {sorted(DEFAULTS)}")
    out = dict(DEFAULTS)
    out.update(user)
    if out["cache_dir"] is None:
        out["cache_dir"] = os.path.join(cfg.get("work_dir", "work_dirs"), "memory_cache")
    return out


def memory_path(cfg) -> str:
    path = cfg.get("semantic_memory_path", None) or cfg.model.get("semantic_memory_path", None)
    if not path:
        raise ValueError("the config sets no `semantic_memory_path` (where the semantic memory is written / read)")
    return path


def test_pipeline(cfg) -> list:
    """The deterministic evaluation pipeline of a config (val, else test dataloader)."""
    for key in ("val_dataloader", "test_dataloader"):
        loader = cfg.get(key, None)
        if loader:
            return copy.deepcopy(_to_plain(loader["dataset"]["pipeline"]))
    raise ValueError("the config has neither a val_dataloader nor a test_dataloader to take the test pipeline from")


def build_memory_dataset(cfg, settings: Optional[dict] = None):
    """The dataset whose single-source frames feed the memory (see module docstring, step 1)."""
    from mmseg.registry import DATASETS

    ensure_mmseg_scope()
    settings = settings or builder_settings(cfg)
    ds_cfg = copy.deepcopy(_to_plain(settings["dataset"] or cfg.train_dataloader.dataset))
    ds_cfg["pipeline"] = test_pipeline(cfg)
    ds_cfg.pop("test_mode", None)
    return DATASETS.build(ds_cfg)


def single_source_label(
    data_sample,
    task: str,
    class_index: Optional[dict] = None,
    category_key: str = "category",
    data_info: Optional[dict] = None,
    ignore_index: int = 255,
) -> Optional[int]:
    """Label of a single-source frame, or None if the frame is not single-source (see module docstring, step 2)."""
    if task == "binary":
        if class_index is None:
            raise ValueError("single_source_label: binary tasks need class_index (category name -> index)")
        name = data_sample.metainfo.get(category_key)
        if name is None and data_info is not None:
            name = data_info.get(category_key)
        if name is None:
            raise KeyError(
                f"{data_sample.metainfo.get('img_path')}: no '{category_key}' for the binary-task memory (S4 category)"
            )
        if name not in class_index:
            raise KeyError(f"{data_sample.metainfo.get('img_path')}: category {name!r} not in the memory's classes")
        return class_index[name]
    if not data_sample.metainfo.get("has_label", True) or "gt_sem_seg" not in data_sample:
        return None
    values = data_sample.gt_sem_seg.data.unique()
    values = values[(values != 0) & (values != ignore_index)]
    return int(values[0]) if values.numel() == 1 else None


def _signature(audio_cfg: dict, checkpoint: Optional[str], n_items: int, task: str, chunk_size: int) -> str:
    info = dict(audio=audio_cfg, n_items=n_items, task=task, chunk_size=chunk_size)
    if checkpoint:
        st = os.stat(checkpoint)
        info["checkpoint"] = [os.path.realpath(checkpoint), st.st_size, int(st.st_mtime)]
    return hashlib.sha1(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()


def extract_single_source_features(
    cfg,
    checkpoint: Optional[str] = None,
    settings: Optional[dict] = None,
    progress: bool = True,
    device: str = "cpu",
) -> dict:
    """Steps 1-4: returns dict(features [N, d], labels [N], n_items, n_single, skipped, cached_chunks)."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import MODELS
    from tqdm import tqdm

    from ddeseg_layers.audio import build_audio_backbone

    settings = settings or builder_settings(cfg)
    model_cfg = cfg.model
    task = settings.get("label_task") or model_cfg.get("task", "semantic")
    audio_cfg = _to_plain(model_cfg.net.audio)
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f"audio encoder checkpoint not found: {checkpoint}")
        audio_cfg["checkpoint"] = checkpoint
    class_index = None
    if task == "binary":
        names = class_names_for_binary(cfg)
        class_index = {n: i for i, n in enumerate(names)}

    dataset = build_memory_dataset(cfg, settings)
    n_items = len(dataset)
    chunk = int(settings["chunk_size"])
    cache_dir = settings["cache_dir"]
    os.makedirs(cache_dir, exist_ok=True)
    sig = _signature(audio_cfg, audio_cfg.get("checkpoint"), n_items, task, chunk)
    manifest_path = os.path.join(cache_dir, "manifest.json")
    manifest = {}
    if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    if manifest.get("signature") != sig:
        for name in os.listdir(cache_dir):
            if name.startswith("chunk_") and name.endswith(".pt"):
                os.remove(os.path.join(cache_dir, name))
        manifest = dict(signature=sig, n_items=n_items, chunk_size=chunk, done=[])
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)

    torch.manual_seed(int(settings["seed"]))  # a backbone without checkpoint is then the same in every run
    backbone = build_audio_backbone(audio_cfg).to(device).eval()
    preprocessor = MODELS.build(_to_plain(model_cfg.data_preprocessor)).to(device)
    bs = int(settings["batch_size"])
    n_chunks = (n_items + chunk - 1) // chunk
    done = set(manifest.get("done", []))
    skipped = dict(multi_or_none=0)
    cached = 0
    bar = tqdm(total=n_items, desc="semantic memory: audio features", disable=not progress, unit="frame")
    for k in range(n_chunks):
        lo, hi = k * chunk, min(n_items, (k + 1) * chunk)
        path = os.path.join(cache_dir, f"chunk_{k:05d}.pt")
        if k in done and os.path.isfile(path):
            cached += 1
            bar.update(hi - lo)
            continue
        feats, labels, idx = [], [], []
        for b0 in range(lo, hi, bs):
            items, keep, lab = [], [], []
            for i in range(b0, min(hi, b0 + bs)):
                item = dataset[i]
                y = single_source_label(
                    item["data_samples"],
                    task,
                    class_index,
                    settings["category_key"],
                    dataset.get_data_info(i),
                    settings["ignore_index"],
                )
                if y is None:
                    skipped["multi_or_none"] += 1
                    continue
                items.append(item)
                keep.append(i)
                lab.append(y)
            bar.update(min(hi, b0 + bs) - b0)
            if not items:
                continue
            batch = preprocessor(pseudo_collate(items), False)
            with torch.no_grad():
                fa = backbone(batch["inputs"]["audio"].to(device)).float().cpu()
            feats.append(fa)
            labels.extend(lab)
            idx.extend(keep)
        dim = int(backbone.out_dim)
        data = dict(
            features=torch.cat(feats) if feats else torch.zeros(0, dim),
            labels=torch.tensor(labels, dtype=torch.long),
            indices=torch.tensor(idx, dtype=torch.long),
        )
        torch.save(data, path)
        done.add(k)
        manifest["done"] = sorted(done)
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
    bar.close()
    from ddeseg_layers.memory import audio_encoder_fingerprint

    fingerprint = audio_encoder_fingerprint(backbone)
    from ddeseg_layers.checkpoint import read_weights_only

    parts = [
        read_weights_only(os.path.join(cache_dir, f"chunk_{k:05d}.pt"), what="feature chunk") for k in range(n_chunks)
    ]
    features = torch.cat([p["features"] for p in parts])
    labels = torch.cat([p["labels"] for p in parts])
    return dict(
        features=features,
        labels=labels,
        n_items=n_items,
        n_single=int(labels.numel()),
        skipped=n_items - int(labels.numel()),
        cached_chunks=cached,
        n_chunks=n_chunks,
        encoder_fingerprint=fingerprint,
        encoder_checkpoint=audio_cfg.get("checkpoint") if isinstance(audio_cfg.get("checkpoint"), str) else None,
    )


def class_names_for_binary(cfg) -> Sequence[str]:
    """Category names of a binary task's memory (``cfg.s4_categories`` or the stage-1 classifier's class_names)."""
    names = cfg.get("s4_categories", None)
    if names is None:
        names = (cfg.get("audio_classifier", None) or {}).get("model", {}).get("class_names")
    if not names:
        raise ValueError("binary-task config needs `s4_categories` (the memory's class names)")
    return list(names)


def build_and_save_memory(
    cfg,
    checkpoint: Optional[str] = None,
    out: Optional[str] = None,
    progress: bool = True,
    device: str = "cpu",
) -> dict:
    """Steps 1-5; returns a summary dict (path, counts per class, shapes). Raises on any mismatch before writing."""
    from ddeseg_layers.memory import SemanticMemory

    settings = builder_settings(cfg)
    mem_cfg = cfg.model.net.memory
    num_classes = int(mem_cfg.get("num_classes", cfg.model.net.num_classes))
    k, m = int(settings["num_clusters"]), int(settings["reps_per_cluster"])
    want_reps = int(mem_cfg.get("num_reps", 5))
    if k * m != want_reps:
        raise ValueError(
            f"memory_builder: num_clusters ({k}) x reps_per_cluster ({m}) = {k * m} rep slots, but the model's "
            f"net.memory.num_reps is {want_reps}"
        )
    res = extract_single_source_features(cfg, checkpoint, settings, progress, device)
    feats, labels = res["features"], res["labels"]
    if labels.numel() == 0:
        raise ValueError(f"no single-source frame found among {res['n_items']} items: cannot build the memory")
    if "dim" in mem_cfg and feats.shape[1] != int(mem_cfg["dim"]):
        raise ValueError(f"audio features have dim {feats.shape[1]} but net.memory.dim is {mem_cfg['dim']}")
    if int(labels.max()) >= num_classes:
        raise ValueError(f"label {int(labels.max())} >= net.memory.num_classes={num_classes}")
    mem = SemanticMemory.build(
        feats, labels, num_clusters=k, num_reps=m, seed=int(settings["seed"]), num_classes=num_classes
    )
    mem.provenance = dict(encoder=res["encoder_fingerprint"], checkpoint=res["encoder_checkpoint"])
    path = out or memory_path(cfg)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    mem.save(path)
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    return dict(
        path=path,
        num_classes=num_classes,
        num_reps=mem.num_reps,
        dim=mem.dim,
        classes_present=int(mem.class_mask.sum()),
        frames_per_class=counts,
        n_items=res["n_items"],
        n_single=res["n_single"],
        skipped=res["skipped"],
        cached_chunks=res["cached_chunks"],
        n_chunks=res["n_chunks"],
        encoder_weights=res["encoder_fingerprint"]["weights"],
    )
