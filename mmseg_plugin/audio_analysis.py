"""The paper's Fig. 6 analysis: audio representations before and after the DDM / DEM, t-SNE pictures and linear probes.

Paper §4.3 ("Quality of Generated Audio Representations"): t-SNE of the audio features under three settings and a
linear probe of each. Here the three representations of one trained DDESeg are recorded on single-source frames
(frames whose mask holds exactly one sounding class, ``memory_builder.single_source_label``; that class is the label):

* ``F_a``  -- the audio backbone's feature, the DDM's input                                   ``[N, d]``
* ``DDM``  -- the derived tokens A^1 = Phi_D(F_a) ``[N, K, d]``, averaged over the K tokens       ``[N, d]``
* ``DEM``  -- the tokens the last fusion stage uses, weighted by the elimination scores and summed over K:
  ``sum_k w_k A^1_k`` with ``w = prod_l S^l`` (paper variant: the scores carried from stage to stage) or the last
  stage's ``S`` (official variant, whose aligners do not carry them); ``w = 1`` without DEM          ``[N, d]``

All three have the same width d, so the probes compare representations, not probe capacities.

* :class:`AudioRepresentationRecorder` -- forward hooks on ``net.audio`` and ``net.encoder`` of a ``DDESeg`` that
  keep detached CPU copies (no autograd graph is kept alive), filled by any forward (``model.test_step``).
* :func:`collect_representations` -- runs a segmentor over a dataset's single-source frames.
* :func:`linear_probe` -- scikit-learn logistic regression fitted on one set of frames, scored on a held-out one.
* :func:`tsne_embedding` / :func:`plot_tsne` -- 2-D t-SNE (scikit-learn) and the PNG (matplotlib, Agg backend).
* :func:`collect_derivation_records` / :func:`derivation_statistics` -- does the DDM derive *distinct* tokens and does
  the DEM score them apart? Over every frame of a split: the mean cosine between the K tokens of a frame (1: the
  tokens collapsed onto one vector, the Table 3 baseline's "F_a repeated K times"), the size of the derived offset
  ``|A_k - F_a| / |F_a|``, the recall of the sounding classes among the K selected classes (eqs. 5-8's neighbour
  choice) by the number of sounding classes, and per stage the spread of the DEM scores over the K tokens and their
  mean on tokens of sounding against silent classes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

__all__ = [
    "REPRESENTATIONS",
    "AudioRepresentationRecorder",
    "collect_representations",
    "linear_probe",
    "tsne_embedding",
    "plot_tsne",
    "collect_derivation_records",
    "derivation_statistics",
]

REPRESENTATIONS = ("F_a", "DDM", "DEM")


class AudioRepresentationRecorder:
    """Record F_a, the mean DDM token and the DEM-weighted token sum of every forward of a ``DDESeg`` network.

    Use as a context manager (the hooks are removed on exit); ``records`` holds one ``[B, d]`` float32 CPU tensor per
    forward and representation, :meth:`stacked` concatenates them.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        for part in ("audio", "encoder"):
            if not hasattr(net, part):
                raise TypeError(f"AudioRepresentationRecorder needs a DDESeg network with .{part}, got {type(net)}")
        self.net = net
        self.records: Dict[str, List[torch.Tensor]] = {k: [] for k in REPRESENTATIONS}
        self._handles: list = []

    def __enter__(self) -> AudioRepresentationRecorder:
        self._handles = [
            self.net.audio.register_forward_hook(self._on_audio),
            self.net.encoder.register_forward_hook(self._on_encoder),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _on_audio(self, module, inputs, output) -> None:
        self.records["F_a"].append(output.detach().float().cpu().clone())

    def _on_encoder(self, module, inputs, output) -> None:
        tokens = inputs[1].detach().float()  # A^1 [B, K, d]
        if tokens.dim() != 3:
            raise ValueError(
                f"AudioRepresentationRecorder: encoder tokens must be [B, K, d], got {tuple(tokens.shape)}"
            )
        scores = [s.detach().float() for s in getattr(module, "last_scores", [])]
        b, k, _ = tokens.shape
        w = torch.ones(b, k, dtype=tokens.dtype, device=tokens.device)
        if scores:
            if getattr(module, "variant", "paper") == "official":
                w = scores[-1].reshape(b, k)
            else:
                for s in scores:
                    w = w * s.reshape(b, k)
        self.records["DDM"].append(tokens.mean(1).cpu().clone())
        self.records["DEM"].append((w.unsqueeze(-1) * tokens).sum(1).cpu().clone())

    def stacked(self) -> Dict[str, torch.Tensor]:
        """Each representation's records concatenated over forwards: ``[N, d]``."""
        n = {k: sum(t.shape[0] for t in v) for k, v in self.records.items()}
        if len(set(n.values())) != 1:
            raise RuntimeError(f"AudioRepresentationRecorder: representations recorded unequal frame counts {n}")
        return {k: torch.cat(v) if v else torch.empty(0) for k, v in self.records.items()}


def _net_of(model) -> torch.nn.Module:
    net = getattr(model, "net", model)
    if not hasattr(net, "derivation"):
        raise TypeError(f"expected an AVSSegmentor (with .net) or a DDESeg network, got {type(model).__name__}")
    return net


def collect_representations(
    model,
    dataset,
    task: str = "semantic",
    class_index: Optional[dict] = None,
    batch_size: int = 16,
    max_frames: Optional[int] = None,
) -> Dict[str, Any]:
    """Run ``model.test_step`` over the single-source frames of ``dataset`` and record the three representations.

    Returns ``dict(F_a=[N, d], DDM=[N, d], DEM=[N, d] float32 numpy, labels=[N] int, clip_ids=[N] str,
    indices=[N] int, n_items, n_single)``.
    """
    from mmengine.dataset import pseudo_collate

    from .memory_builder import single_source_label

    net = _net_of(model)
    model.eval()
    labels: List[int] = []
    clips: List[str] = []
    indices: List[int] = []
    pending: list = []
    with AudioRepresentationRecorder(net) as rec, torch.no_grad():
        for i in range(len(dataset)):
            if max_frames is not None and len(labels) >= max_frames:
                break
            item = dataset[i]
            y = single_source_label(item["data_samples"], task, class_index, data_info=dataset.get_data_info(i))
            if y is None:
                continue
            labels.append(int(y))
            clips.append(str(item["data_samples"].metainfo.get("clip_id")))
            indices.append(i)
            pending.append(item)
            if len(pending) == batch_size:
                model.test_step(pseudo_collate(pending))
                pending = []
        if pending:
            model.test_step(pseudo_collate(pending))
        reps = rec.stacked()
    out: Dict[str, Any] = {k: v.numpy() for k, v in reps.items()}
    if out["F_a"].shape[0] != len(labels):
        raise RuntimeError(f"recorded {out['F_a'].shape[0]} frames for {len(labels)} single-source frames")
    out.update(
        labels=np.asarray(labels, dtype=np.int64),
        clip_ids=np.asarray(clips),
        indices=np.asarray(indices, dtype=np.int64),
        n_items=len(dataset),
        n_single=len(labels),
    )
    return out


def linear_probe(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    seed: int = 0,
    c: float = 1.0,
    max_iter: int = 2000,
) -> Dict[str, Any]:
    """Standardise, fit a multinomial logistic regression on (x_fit, y_fit), score on the held-out (x_eval, y_eval).

    Returns percentages: ``accuracy``, ``balanced_accuracy`` (mean per-class recall; chance = 100 / classes),
    ``macro_f1``, ``chance_majority`` (accuracy of always predicting the eval set's most frequent class),
    ``chance_balanced`` (100 / number of fitted classes), and ``n_fit``, ``n_eval``, ``classes``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_fit, x_eval = np.asarray(x_fit, dtype=np.float64), np.asarray(x_eval, dtype=np.float64)
    y_fit, y_eval = np.asarray(y_fit), np.asarray(y_eval)
    if x_fit.ndim != 2 or x_eval.ndim != 2 or x_fit.shape[1] != x_eval.shape[1]:
        raise ValueError(f"linear_probe: features must be [N, d] with one d, got {x_fit.shape} and {x_eval.shape}")
    if len(x_fit) != len(y_fit) or len(x_eval) != len(y_eval):
        raise ValueError(
            f"linear_probe: {len(x_fit)} / {len(x_eval)} feature rows for {len(y_fit)} / {len(y_eval)} labels"
        )
    classes = np.unique(y_fit)
    if len(classes) < 2:
        raise ValueError(f"linear_probe: the fit set holds {len(classes)} class(es); at least 2 are needed")
    if len(y_eval) == 0:
        raise ValueError("linear_probe: the held-out set is empty")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    probe.fit(x_fit, y_fit)
    pred = probe.predict(x_eval)
    _, counts = np.unique(y_eval, return_counts=True)
    return dict(
        accuracy=100.0 * accuracy_score(y_eval, pred),
        balanced_accuracy=100.0 * balanced_accuracy_score(y_eval, pred),
        macro_f1=100.0 * f1_score(y_eval, pred, average="macro", labels=classes, zero_division=0),
        chance_majority=100.0 * counts.max() / len(y_eval),
        chance_balanced=100.0 / len(classes),
        n_fit=int(len(y_fit)),
        n_eval=int(len(y_eval)),
        classes=classes.tolist(),
    )


def tsne_embedding(x: np.ndarray, seed: int = 0, perplexity: Optional[float] = None) -> np.ndarray:
    """2-D t-SNE of standardised ``x`` [N, d] -> [N, 2] (perplexity default min(30, (N - 1) / 3), PCA init)."""
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 5:
        raise ValueError(f"t-SNE needs [N, d] features with N >= 5, got shape {x.shape}")
    if perplexity is None:
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    x = StandardScaler().fit_transform(x)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def plot_tsne(
    embeddings: Dict[str, np.ndarray],
    labels: np.ndarray,
    class_names: Sequence[str],
    path: str,
    titles: Optional[Dict[str, str]] = None,
    suptitle: Optional[str] = None,
) -> str:
    """One panel per representation (``embeddings[name]`` [N, 2]), points coloured by class; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    present = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    fig, axes = plt.subplots(1, len(embeddings), figsize=(4.2 * len(embeddings), 4.4), squeeze=False)
    for ax, (name, emb) in zip(axes[0], embeddings.items()):
        for c in present:
            m = labels == c
            ax.scatter(emb[m, 0], emb[m, 1], s=10, color=cmap(c % cmap.N), label=str(class_names[c]))
        ax.set_title((titles or {}).get(name, name), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=1.5, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def derivation_statistics(
    audio: torch.Tensor,
    tokens: torch.Tensor,
    selected: torch.Tensor,
    sounding: Sequence[Sequence[int]],
    scores: Sequence[torch.Tensor] = (),
) -> Dict[str, Any]:
    """How distinct the DDM's derived tokens are and how the DEM scores them (module docstring).

    Args:
        audio: F_a ``[N, d]``; tokens: the derived tokens A^1 ``[N, K, d]``; selected: the memory classes the DDM chose
            ``[N, K]`` (``DynamicDerivation.last_indices``), in the dataset's class indices;
        sounding: per frame, the dataset class indices that sound (background excluded);
        scores: per stage, the DEM scores ``[N, K]`` (empty without DEM).

    Returns ``token_cosine`` (mean over frames of the mean cosine between the K(K-1) ordered token pairs; needs K >= 2),
    ``offset_ratio`` (mean |A_k - F_a| / |F_a|), ``selection_recall`` (sounding classes found among the K selected /
    all sounding classes, in %) and ``selection_recall_by_sources`` ({"1": .., "2": .., "3+": ..}), ``n_frames``,
    ``k`` and ``stages``: per stage ``score_mean``, ``score_spread`` (mean over frames of the standard deviation over
    K), ``score_sounding`` / ``score_silent`` (mean score of tokens whose selected class sounds / does not) and the
    token counts behind them.
    """
    audio, tokens = audio.detach().double(), tokens.detach().double()
    if tokens.dim() != 3 or audio.dim() != 2 or tokens.shape[0] != audio.shape[0] or tokens.shape[2] != audio.shape[1]:
        raise ValueError(
            f"derivation_statistics: audio [N, d] and tokens [N, K, d] expected, got {tuple(audio.shape)} and "
            f"{tuple(tokens.shape)}"
        )
    n, k, _ = tokens.shape
    if tuple(selected.shape) != (n, k) or len(sounding) != n:
        raise ValueError(
            f"derivation_statistics: selected must be [{n}, {k}] and sounding hold {n} frames, got "
            f"{tuple(selected.shape)} and {len(sounding)}"
        )
    if n == 0 or k < 2:
        raise ValueError(f"derivation_statistics: needs frames and K >= 2 tokens, got N={n}, K={k}")
    unit = torch.nn.functional.normalize(tokens, dim=-1)
    cos = unit @ unit.transpose(1, 2)
    off_diag = ~torch.eye(k, dtype=torch.bool)
    token_cosine = cos[:, off_diag].mean().item()
    offset_ratio = ((tokens - audio[:, None]).norm(dim=-1) / audio.norm(dim=-1, keepdim=True).clamp_min(1e-12)).mean()
    chosen = [set(map(int, row)) for row in selected.tolist()]
    found, total, by = 0, 0, {}
    for sel, snd in zip(chosen, sounding):
        snd = set(int(c) for c in snd)
        if not snd:
            continue
        key = str(len(snd)) if len(snd) < 3 else "3+"
        hit = len(snd & sel)
        found, total = found + hit, total + len(snd)
        f, t = by.get(key, (0, 0))
        by[key] = (f + hit, t + len(snd))
    stages = []
    for s in scores:
        s = s.detach().double().reshape(n, k)
        on = torch.tensor([[c in set(map(int, snd)) for c in row] for row, snd in zip(selected.tolist(), sounding)])
        stages.append(
            dict(
                score_mean=s.mean().item(),
                score_spread=s.std(dim=1, unbiased=False).mean().item(),
                score_sounding=s[on].mean().item() if on.any() else None,
                score_silent=s[~on].mean().item() if (~on).any() else None,
                n_sounding=int(on.sum()),
                n_silent=int((~on).sum()),
            )
        )
    return dict(
        n_frames=n,
        k=k,
        token_cosine=token_cosine,
        offset_ratio=offset_ratio.item(),
        selection_recall=100.0 * found / total if total else None,
        selection_recall_by_sources={key: 100.0 * f / t for key, (f, t) in sorted(by.items())},
        stages=stages,
    )


def collect_derivation_records(model, dataset, batch_size: int = 16, max_frames: Optional[int] = None) -> dict:
    """Run ``model.test_step`` over the frames of a semantic-task ``dataset`` and record, per frame, F_a, the derived
    tokens, the selected classes, the DEM scores of every stage and the sounding classes (the classes of the frame's
    ground-truth mask); the keyword arguments of :func:`derivation_statistics`.

    The memory's classes must be the dataset's (the semantic task: memory class i is dataset class i).
    """
    from mmengine.dataset import pseudo_collate

    net = _net_of(model)
    if not getattr(net.derivation, "enabled", True):
        raise ValueError("collect_derivation_records: the network's DDM is disabled (Table 3 baseline): no tokens")
    classes = dataset.metainfo.get("classes")
    if classes is not None and net.memory.num_classes != len(classes):
        raise ValueError(
            f"collect_derivation_records: the memory holds {net.memory.num_classes} classes, the dataset "
            f"{len(classes)}; the statistics need memory class i == dataset class i (semantic task)"
        )
    ignore = int(dataset.metainfo.get("ignore_index", 255)) if hasattr(dataset, "metainfo") else 255
    rec: Dict[str, list] = dict(audio=[], tokens=[], selected=[], scores=[])
    sounding: List[List[int]] = []

    def on_audio(module, inputs, output):
        rec["audio"].append(output.detach().float().cpu())

    def on_encoder(module, inputs, output):
        rec["tokens"].append(inputs[1].detach().float().cpu())
        rec["selected"].append(net.derivation.last_indices.detach().cpu())
        b, kk = inputs[1].shape[:2]
        rec["scores"].append([s.detach().float().reshape(b, kk).cpu() for s in getattr(module, "last_scores", [])])

    model.eval()
    handles = [net.audio.register_forward_hook(on_audio), net.encoder.register_forward_hook(on_encoder)]
    try:
        pending = []
        with torch.no_grad():
            n = len(dataset) if max_frames is None else min(len(dataset), int(max_frames))
            for i in range(n):
                item = dataset[i]
                seg = item["data_samples"].gt_sem_seg.data
                sounding.append([int(c) for c in torch.unique(seg).tolist() if c not in (0, ignore)])
                pending.append(item)
                if len(pending) == batch_size:
                    model.test_step(pseudo_collate(pending))
                    pending = []
            if pending:
                model.test_step(pseudo_collate(pending))
    finally:
        for h in handles:
            h.remove()
    stages = len(rec["scores"][0]) if rec["scores"] else 0
    return dict(
        audio=torch.cat(rec["audio"]),
        tokens=torch.cat(rec["tokens"]),
        selected=torch.cat(rec["selected"]),
        sounding=sounding,
        scores=[torch.cat([b[s] for b in rec["scores"]]) for s in range(stages)],
    )
