"""Whole-dataset validation before a long run: every frame, label, audio file and clip of a split, with a report.

No paper equation. A dataset is built from its config with ``check_files="none"`` (so a missing file becomes a
reported problem rather than a construction error), ``keep_unlabelled=True`` (every frame the layout lists, also the
unlabelled ones) and no pipeline; its ``data_list`` is then checked with the decoders the training pipeline uses:
the config's own ``LoadAVSAnnotations`` / ``LoadAudioWindow`` and, for frames, ``LoadAVSImageFromFile`` with the
config's image-loader arguments (mmcv's decoder plus a truncation check), plus a strict full decode with PIL.

One function per check, each returning a list of :class:`Problem` (the check, the file, what is wrong, the dataset
index / clip / frame):

- :func:`check_frames`: every frame exists, is complete (JPEG EOI / PNG IEND) and decodes (mmcv, then PIL strictly).
- :func:`check_labels`: every labelled frame's mask decodes (unknown colour / id, bad value, size differing from the
  frame); also counts the frames in which each class is present.
- :func:`check_audio`: every audio file decodes and covers each frame's window with at most ``max_pad_seconds`` of
  padding (log-mel caches: a row per frame).
- :func:`check_frame_counts`: each clip has the frames its layout requires (AVSS v1s/v1m 5, v2 10; S4/MS3 5; the
  DDESeg re-layout lists v1s train clips' frame 0 only), numbered 0..n-1 in the metadata, and its frame folder holds
  exactly those frame files (not checked for the DDESeg re-layout).

:func:`validate_split` runs them all and returns a :class:`SplitReport` (clips, frames, labelled frames, audio
files, class -> frame count, problems). Label maps are ``[H, W]`` uint8 class indices (255 = ignore, not counted).
"""

from __future__ import annotations

import copy
import os
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .avss import AVSS_FRAMES
from .ddeseg_official import DDESegOfficialAVSSDataset
from .palette import IGNORE_INDEX
from .transforms.loading import LoadAudioWindow, LoadAVSAnnotations, LoadAVSImageFromFile

__all__ = [
    "Problem",
    "SplitReport",
    "build_split_dataset",
    "loaders_from_pipeline",
    "check_frames",
    "check_labels",
    "check_audio",
    "check_frame_counts",
    "expected_frames_per_clip",
    "validate_split",
]

IMAGE_LOADERS = ("LoadImageFromFile", "LoadAVSImageFromFile")
# A progress callback: (description, iterable, total) -> iterable
Progress = Callable[[str, Iterable, int], Iterable]


def _no_progress(desc: str, it: Iterable, total: int) -> Iterable:
    return it


@dataclass
class Problem:
    """One problem found in a dataset: ``check`` (frame | label | audio | frame_count | dataset), ``path`` (the
    offending file or folder), ``message`` (what is wrong), and where the dataset uses it."""

    check: str
    path: str
    message: str
    index: Optional[int] = None
    clip_id: Optional[str] = None
    frame_index: Optional[int] = None

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"item {self.index}")
        if self.clip_id is not None:
            where.append(f"clip {self.clip_id!r}")
        if self.frame_index is not None:
            where.append(f"frame {self.frame_index}")
        suffix = f" [{', '.join(where)}]" if where else ""
        return f"{self.check}: {self.path}: {self.message}{suffix}"


@dataclass
class SplitReport:
    """What :func:`validate_split` found for one split."""

    split: str
    dataset_type: str
    data_root: str
    clips: int = 0
    frames: int = 0
    labelled_frames: int = 0
    audio_files: int = 0
    class_frames: Dict[str, int] = field(default_factory=dict)  # class name -> labelled frames containing it
    problems: List[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = [asdict(p) for p in self.problems]
        return d


def _problem(check: str, path, message: str, item: Optional[dict] = None, index: Optional[int] = None) -> Problem:
    item = item or {}
    return Problem(
        check=check,
        path=str(path),
        message=message,
        index=index,
        clip_id=None if item.get("clip_id") is None else str(item["clip_id"]),
        frame_index=item.get("frame_index"),
    )


def _dedupe(problems: Iterable[Problem]) -> List[Problem]:
    """Keep the first problem per (check, path): a corrupt clip audio fails every frame of the clip the same way."""
    seen, out = set(), []
    for p in problems:
        key = (p.check, p.path)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------------- construction
def build_split_dataset(dataset_cfg: dict, data_root: Optional[str] = None):
    """Build the dataset of ``dataset_cfg`` for validation (no pipeline, no file checks, unlabelled frames kept).

    Wrappers with a single inner ``dataset`` (RepeatDataset, ClassBalancedDataset) are unwrapped.
    """
    from mmseg.registry import DATASETS

    cfg = copy.deepcopy(dict(dataset_cfg))
    while "dataset" in cfg and isinstance(cfg["dataset"], dict):
        cfg = copy.deepcopy(dict(cfg["dataset"]))
    if data_root is not None:
        cfg["data_root"] = data_root
    cfg.update(pipeline=[], check_files="none", keep_unlabelled=True, test_mode=True, serialize_data=False)
    cfg.pop("lazy_init", None)
    return DATASETS.build(cfg)


def loaders_from_pipeline(pipeline: Sequence[dict]) -> Tuple[LoadAVSImageFromFile, LoadAVSAnnotations, LoadAudioWindow]:
    """The frame, label and audio loaders with the arguments the config's pipeline gives them (defaults if absent).

    ``LoadImageFromFile`` becomes ``LoadAVSImageFromFile`` with the same arguments (truncation check on);
    ``ignore_empty`` is turned off so that an unreadable frame is reported instead of skipped.
    """
    image_kw, ann_kw, audio_kw = {}, {}, {}
    for t in pipeline or []:
        t = dict(t)
        kind = t.pop("type", None)
        if kind in IMAGE_LOADERS:
            image_kw = t
        elif kind == "LoadAVSAnnotations":
            ann_kw = t
        elif kind == "LoadAudioWindow":
            audio_kw = t
    image_kw = dict(image_kw, check_complete=True, ignore_empty=False)
    return LoadAVSImageFromFile(**image_kw), LoadAVSAnnotations(**ann_kw), LoadAudioWindow(**audio_kw)


# ------------------------------------------------------------------------------------------------------- checks
def _strict_pil_decode(path: str) -> Optional[str]:
    """Decode the whole image with PIL (truncated data is an error there); the reason it fails, or None."""
    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:
        return f"PIL cannot decode it fully: {exc}"
    return None


def check_frames(
    items: Sequence[dict], loader: LoadAVSImageFromFile, progress: Progress = _no_progress
) -> Tuple[List[Problem], Dict[int, Tuple[int, int]]]:
    """Every item's frame exists, is complete and decodes. Returns the problems and index -> (H, W) of good frames."""
    problems, shapes = [], {}
    for idx, item in progress("frames", enumerate(items), len(items)):
        path = item.get("img_path")
        res = dict(item, sample_idx=idx)
        if path is None or not os.path.isfile(path):
            problems.append(_problem("frame", path, "missing frame file", item, idx))
            continue
        try:
            out = loader.transform(res)
        except Exception as exc:
            problems.append(_problem("frame", path, str(exc), item, idx))
            continue
        why = _strict_pil_decode(path)
        if why is not None:
            problems.append(_problem("frame", path, why, item, idx))
            continue
        shapes[idx] = tuple(out["img_shape"][:2])
    return problems, shapes


def check_labels(
    items: Sequence[dict],
    loader: LoadAVSAnnotations,
    classes: Sequence[str],
    frame_shapes: Optional[Dict[int, Tuple[int, int]]] = None,
    progress: Progress = _no_progress,
) -> Tuple[List[Problem], Dict[str, int], int]:
    """Every labelled item's mask decodes with the pipeline's rules (and matches its frame's size when known).

    Returns the problems, class name -> number of labelled frames containing it (ignore pixels excluded), and the
    number of labelled frames.
    """
    problems, counts = [], Counter()
    labelled = [(i, it) for i, it in enumerate(items) if it.get("has_label") and it.get("seg_map_path") is not None]
    for idx, item in progress("labels", labelled, len(labelled)):
        path = item["seg_map_path"]
        if not os.path.isfile(path):
            problems.append(_problem("label", path, "missing label file", item, idx))
            continue
        res = dict(item, sample_idx=idx)
        if frame_shapes and idx in frame_shapes:
            res["img_shape"] = frame_shapes[idx]
        try:
            gt = loader.transform(res)["gt_seg_map"]
        except Exception as exc:
            problems.append(_problem("label", path, str(exc), item, idx))
            continue
        present = np.unique(gt)
        for v in present[present != IGNORE_INDEX]:
            v = int(v)
            counts[classes[v] if v < len(classes) else f"<index {v}>"] += 1
    return problems, dict(counts), len(labelled)


def _audio_sources(item: dict) -> List[str]:
    paths = item.get("audio_path")
    return list(paths) if isinstance(paths, (list, tuple)) else [paths]


def check_audio(
    items: Sequence[dict],
    loader: LoadAudioWindow,
    max_pad_seconds: float = 0.5,
    progress: Progress = _no_progress,
) -> Tuple[List[Problem], int]:
    """Every audio file decodes and gives every frame its window with at most ``max_pad_seconds`` of padding.

    Each source of a multi-source item (VPO-MS) is checked on its own. Log-mel caches (``audio_format="log_mel_pkl"``)
    must hold a finite row per frame. Returns the problems (one per file) and the number of distinct audio files.
    """
    problems, files = [], set()
    for idx, item in progress("audio", enumerate(items), len(items)):
        for path in _audio_sources(item):
            files.add(path)
            if path is None or not os.path.isfile(path):
                problems.append(_problem("audio", path, "missing audio file", item, idx))
                continue
            res = dict(item, audio_path=path, audio_pan=None, sample_idx=idx)
            try:
                info = loader.transform(res)["audio_window"]
            except Exception as exc:
                problems.append(_problem("audio", path, str(exc), item, idx))
                continue
            padded = info.get("num_padded")
            if padded is None:  # log-mel row
                continue
            sr = info["sample_rate"]
            if padded > max_pad_seconds * sr + 1e-9:
                start = info["start_sample"] / sr
                problems.append(
                    _problem(
                        "audio",
                        path,
                        f"too short: {info['clip_samples'] / sr:.3f} s of audio, but the window "
                        f"[{start:.3f}, {start + info['num_samples'] / sr:.3f}) s needs {padded / sr:.3f} s of "
                        f"padding (allowed: {max_pad_seconds} s)",
                        item,
                        idx,
                    )
                )
    return _dedupe(problems), len(files)


def _lists_frames_per_row(dataset) -> bool:
    """The DDESeg re-layout lists its frames one metadata row each (only the labelled ones: frame 0 of a v1s train
    clip); its frame folders may hold more frames than it lists."""
    return isinstance(dataset, DDESegOfficialAVSSDataset)


def expected_frames_per_clip(dataset, item: dict) -> Optional[int]:
    """Frames the layout requires for ``item``'s clip: AVSS subsets (5 / 5 / 10; DDESeg re-layout: 1 for v1s train,
    its labelled frame), S4 / MS3 (5); None if the layout has no fixed count (VPO's still images)."""
    subset = item.get("subset")
    if subset in AVSS_FRAMES:
        if _lists_frames_per_row(dataset) and subset == "v1s" and getattr(dataset, "split", None) == "train":
            return 1
        return AVSS_FRAMES[subset]
    n = getattr(dataset, "NUM_FRAMES", None)
    return int(n) if n else None


def _clips(items: Sequence[dict]) -> OrderedDict[str, List[Tuple[int, dict]]]:
    clips: OrderedDict[str, List[Tuple[int, dict]]] = OrderedDict()
    for idx, item in enumerate(items):
        key = f"{item.get('subset', '')}/{item.get('clip_id')}"
        clips.setdefault(key, []).append((idx, item))
    return clips


def check_frame_counts(dataset, items: Sequence[dict]) -> List[Problem]:
    """Each clip lists the frames its layout requires, numbered 0..n-1, and its frame folder holds exactly those.

    The folder check lists the files with the frames' extension in the folder of the clip's first frame (a folder
    per clip in every layout with a fixed count) and reports extra or missing frame files; it is skipped for the
    DDESeg re-layout, whose metadata lists each frame (a v1s train clip lists only frame 0 of its 5).
    """
    problems = []
    for _, members in _clips(items).items():
        first = members[0][1]
        expected = expected_frames_per_clip(dataset, first)
        if expected is None:
            continue
        clip_dir = os.path.dirname(first["img_path"])
        indices = sorted(int(it["frame_index"]) for _, it in members)
        if indices != list(range(expected)):
            problems.append(
                _problem(
                    "frame_count",
                    clip_dir,
                    f"the metadata lists {len(indices)} frames {indices} for this clip; the layout requires "
                    f"{expected} (0..{expected - 1})",
                    dict(clip_id=first.get("clip_id")),
                    members[0][0],
                )
            )
        if _lists_frames_per_row(dataset) or not os.path.isdir(clip_dir):
            continue  # a missing folder: every frame of it is reported missing by check_frames
        ext = os.path.splitext(first["img_path"])[1]
        listed = {os.path.basename(it["img_path"]) for _, it in members}
        on_disk = {f for f in os.listdir(clip_dir) if f.endswith(ext)}
        extra, missing = sorted(on_disk - listed), sorted(listed - on_disk)
        if extra or missing or len(on_disk) != expected:
            parts = [f"{len(on_disk)} frame files, the layout requires {expected}"]
            if extra:
                parts.append(f"unexpected: {extra[:5]}" + (" ..." if len(extra) > 5 else ""))
            if missing:
                parts.append(f"missing: {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
            problems.append(
                _problem("frame_count", clip_dir, "; ".join(parts), dict(clip_id=first.get("clip_id")), members[0][0])
            )
    return problems


# -------------------------------------------------------------------------------------------------------- driver
def validate_split(
    dataset_cfg: dict,
    pipeline: Optional[Sequence[dict]] = None,
    *,
    split: Optional[str] = None,
    data_root: Optional[str] = None,
    max_pad_seconds: float = 0.5,
    progress: Progress = _no_progress,
) -> SplitReport:
    """Build one split's dataset from ``dataset_cfg`` and run every check on it.

    Args:
        dataset_cfg: a dataloader's ``dataset`` dict (type, data_root, split, ...).
        pipeline: the pipeline whose loaders define the decoding rules (default: ``dataset_cfg['pipeline']``).
        split: override the config's split.
        data_root: override the config's data_root.
        max_pad_seconds: the most padding a frame's audio window may need before the file counts as too short.
        progress: ``(description, iterable, total) -> iterable`` (e.g. a tqdm wrapper).

    A dataset that cannot be built (missing metadata, malformed CSV, ...) gives a report with one "dataset" problem.
    """
    cfg = dict(dataset_cfg)
    if split is not None:
        cfg["split"] = split
    pipeline = pipeline if pipeline is not None else cfg.get("pipeline", [])
    root = data_root if data_root is not None else cfg.get("data_root", "")
    report = SplitReport(split=str(cfg.get("split")), dataset_type=str(cfg.get("type")), data_root=str(root))
    try:
        dataset = build_split_dataset(cfg, data_root)
    except Exception as exc:
        report.problems.append(_problem("dataset", root, f"{type(exc).__name__}: {exc}"))
        return report
    items = [dataset.get_data_info(i) for i in range(len(dataset))]
    image_loader, ann_loader, audio_loader = loaders_from_pipeline(pipeline)
    classes = list(dataset.metainfo["classes"])

    frame_problems, shapes = check_frames(items, image_loader, progress)
    label_problems, class_frames, labelled = check_labels(items, ann_loader, classes, shapes, progress)
    audio_problems, audio_files = check_audio(items, audio_loader, max_pad_seconds, progress)
    count_problems = check_frame_counts(dataset, items)

    report.clips = len(_clips(items))
    report.frames = len(items)
    report.labelled_frames = labelled
    report.audio_files = audio_files
    report.class_frames = {c: class_frames[c] for c in classes if c in class_frames}
    report.class_frames.update({k: v for k, v in class_frames.items() if k not in report.class_frames})
    report.problems = frame_problems + label_problems + audio_problems + count_problems
    return report
