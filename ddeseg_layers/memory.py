"""Audio semantic memory of the Dynamic Derivation Module (paper §3.1 Step 1, eqs. 2-4).

Contents (registered buffers, so the memory lives in the model's ``state_dict``; the official code keeps its bank
as a plain attribute and loses it):

* ``centroids``  [C, d]     global class centroids mu^c = mean of the class's features (eq. 2).
* ``reps``       [C, R, d]  discriminative features x_rep (eq. 4): for each of the k k-means sub-clusters of the
  class (eq. 3) the m features nearest to the sub-cluster mean, so R = k * m. Slot ``j * m + i`` holds the
  i-th nearest feature of sub-cluster j.
* ``rep_mask``   [C, R]     bool, True where ``reps`` holds a real feature.
* ``class_mask`` [C]        bool, True where the class had data.

Rules for incomplete data (``SemanticMemory.build``):

* **Absent class** (no feature with that label): ``class_mask`` False, ``centroids`` and ``reps`` rows zero,
  ``rep_mask`` row all False. DynamicDerivation never selects such a class as a neighbour.
* **Class with n_c < k * m features**: k-means runs with ``k_c = min(k, n_c)`` clusters; each sub-cluster j fills
  ``min(m, |C_j|)`` slots of its block ``[j*m, (j+1)*m)`` and the remaining slots (and the blocks of the missing
  clusters) stay zero with ``rep_mask`` False. Features are never duplicated to fill a block. A present class
  always has at least one valid rep.

``from_official`` wraps the official bank ``[C, m, d]`` (file ``1s_k5_feabank.npy``): ``reps = bank``,
``centroids = bank.mean(1)`` (what the official code uses as class means), every slot and class valid.

Provenance (not in the paper): the features of a memory live in the space of the audio encoder that produced them,
so a memory is only meaningful next to that encoder. ``audio_encoder_fingerprint(backbone)`` hashes an encoder's
weights (every parameter and buffer but BatchNorm's ``num_batches_tracked``) and records its front-end settings;
``SemanticMemory.provenance`` carries it (``save`` / ``load`` keep it), an official bank carries the tag
``OFFICIAL_BANK_TAG`` instead, and ``check_provenance(memory, backbone)`` says whether they agree.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

_FORMAT = "ddeseg.semantic_memory"
_FORMAT_VERSION = 1
_BUFFERS = ("centroids", "reps", "rep_mask", "class_mask")

ArrayLike = Union[np.ndarray, torch.Tensor]

#: provenance tag of the released bank (built by the release's HTSAT, variant="official" front-end)
OFFICIAL_BANK_TAG = "official-ddeseg-bank"
# scalar attributes that define what an audio encoder's front-end computes (collected over its submodules)
_FRONTEND_ATTRS = (
    "variant",
    "sample_rate",
    "n_fft",
    "hop_size",
    "mel_bins",
    "n_mels",
    "spec_size",
    "freq_ratio",
    "quantize",
    "out_dim",
)


def audio_encoder_fingerprint(backbone: nn.Module) -> dict:
    """Identity of an audio encoder: ``{"kind", "frontend", "weights"}`` (plain values, ``weights_only``-safe).

    ``weights`` is a SHA-1 over the names, shapes, dtypes and bytes of every parameter and buffer of the state dict
    except BatchNorm's ``num_batches_tracked``; ``frontend`` maps ``<submodule>.<attr>`` to the scalar front-end
    settings in ``_FRONTEND_ATTRS``. Two encoders with equal fingerprints compute the same features in eval mode.
    """
    h = hashlib.sha1()
    for name, t in sorted(backbone.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    frontend: dict[str, Any] = {}
    for mod_name, mod in backbone.named_modules():
        for attr in _FRONTEND_ATTRS:
            value = mod.__dict__.get(attr)
            if isinstance(value, (bool, int, float, str)):
                frontend[f"{mod_name}.{attr}" if mod_name else attr] = value
    return dict(kind=type(backbone).__name__, frontend=frontend, weights=h.hexdigest())


def describe_provenance(provenance: Optional[dict]) -> str:
    """One line naming an encoder fingerprint or a provenance record (for error messages)."""
    if not provenance:
        return "no provenance recorded"
    if provenance.get("tag"):
        return f"tag {provenance['tag']!r}" + (f" ({provenance['source']})" if provenance.get("source") else "")
    enc = provenance.get("encoder", provenance)
    fe = enc.get("frontend", {})
    short = ", ".join(f"{k}={v}" for k, v in sorted(fe.items()) if k.split(".")[-1] in ("variant", "sample_rate"))
    src = provenance.get("checkpoint")
    return f"{enc.get('kind')} weights {str(enc.get('weights'))[:12]} [{short}]" + (f" from {src}" if src else "")


def check_provenance(memory: SemanticMemory, backbone: nn.Module) -> Optional[str]:
    """None when ``memory`` was built by ``backbone`` (or carries no provenance), else the reason they differ.

    An official bank (``OFFICIAL_BANK_TAG``) fits an HTSAT with the ``"official"`` front-end; a built memory fits the
    encoder whose ``audio_encoder_fingerprint`` it recorded (weights and front-end).
    """
    prov = memory.provenance
    if not prov:
        return None
    if prov.get("tag") == OFFICIAL_BANK_TAG:
        variant = getattr(backbone, "variant", None)
        if type(backbone).__name__ == "HTSATBackbone" and variant == "official":
            return None
        return (
            f"the memory is the released bank ({describe_provenance(prov)}), built by the release's HTSAT "
            f"(variant='official'); the model runs {type(backbone).__name__} (variant={variant!r})"
        )
    if prov.get("tag"):
        return f"unknown provenance tag {prov['tag']!r}"
    want = prov.get("encoder") or {}
    have = audio_encoder_fingerprint(backbone)
    if want.get("kind") == have["kind"] and want.get("weights") == have["weights"]:
        if want.get("frontend") == have["frontend"]:
            return None
        diff = sorted(
            k
            for k in set(want.get("frontend", {})) | set(have["frontend"])
            if want.get("frontend", {}).get(k) != have["frontend"].get(k)
        )
        return f"same encoder weights but different front-end settings {diff}"
    return (
        f"the memory was built by {describe_provenance(prov)}; the model runs {describe_provenance(dict(encoder=have))}"
    )


def _as_numpy(x: ArrayLike, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"SemanticMemory: {what} must be a numpy array or torch tensor, got {type(x).__name__}")


class SemanticMemory(nn.Module):
    """Per-class audio semantic memory (eqs. 2-4), stored as buffers.

    Args:
        num_classes: C.
        num_reps: R, rep slots per class (k * m for built memories, m for the official bank).
        dim: d, feature dimension.
        num_clusters: k used to build it (informational, saved with the memory).
        reps_per_cluster: m used to build it (informational).
        device, dtype: factory kwargs of the float buffers.
    """

    centroids: torch.Tensor
    reps: torch.Tensor
    rep_mask: torch.Tensor
    class_mask: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        num_reps: int,
        dim: int,
        *,
        num_clusters: int = 0,
        reps_per_cluster: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("num_reps", num_reps), ("dim", dim)):
            if int(value) < 1:
                raise ValueError(f"SemanticMemory: {name} must be >= 1, got {value}")
        dd = {"device": device, "dtype": dtype if dtype is not None else torch.float32}
        self.register_buffer("centroids", torch.zeros(num_classes, dim, **dd))
        self.register_buffer("reps", torch.zeros(num_classes, num_reps, dim, **dd))
        self.register_buffer("rep_mask", torch.zeros(num_classes, num_reps, dtype=torch.bool, device=device))
        self.register_buffer("class_mask", torch.zeros(num_classes, dtype=torch.bool, device=device))
        self.num_clusters = int(num_clusters)
        self.reps_per_cluster = int(reps_per_cluster)
        # plain-Python summary of class_mask (read by DynamicDerivation under torch.compile: no graph break);
        # refreshed by build/from_official/load/load_state_dict, call ``refresh()`` after editing buffers in place
        self.present_count = 0
        # who produced the features: {"encoder": audio_encoder_fingerprint(...), ...} or {"tag": ...}; None = unknown
        self.provenance: Optional[dict] = None
        self.register_load_state_dict_post_hook(_refresh_after_load)

    # ------------------------------------------------------------------ properties
    @property
    def num_classes(self) -> int:
        return self.centroids.shape[0]

    @property
    def dim(self) -> int:
        return self.centroids.shape[1]

    @property
    def num_reps(self) -> int:
        return self.reps.shape[1]

    @property
    def num_present(self) -> int:
        """Number of classes with data (selectable as neighbours)."""
        return int(self.class_mask.sum())

    def refresh(self) -> None:
        """Recompute ``present_count`` (number of present classes) from the buffers."""
        self.present_count = int(self.class_mask.sum())

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, num_reps={self.num_reps}, dim={self.dim}, "
            f"num_clusters={self.num_clusters}, reps_per_cluster={self.reps_per_cluster}"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def empty(cls, num_classes: int, num_reps: int, dim: int, **kwargs) -> SemanticMemory:
        """All-zero placeholder (no class present) to be filled by ``load_state_dict``."""
        return cls(num_classes, num_reps, dim, **kwargs)

    @classmethod
    def build(
        cls,
        features: ArrayLike,
        labels: ArrayLike,
        num_clusters: int = 5,
        num_reps: int = 1,
        seed: int = 0,
        *,
        num_classes: Optional[int] = None,
        n_init: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> SemanticMemory:
        """Build the memory from single-source audio features (eqs. 2-4).

        Args:
            features: [N, d] features x_i (e.g. HTSAT latents of single-source clips).
            labels: [N] integer class of each feature, in [0, num_classes).
            num_clusters: k, k-means sub-clusters per class (eq. 3).
            num_reps: m, features kept per sub-cluster (eq. 4). R = k * m slots per class.
            seed: ``random_state`` of scikit-learn's KMeans (reproducible).
            num_classes: C; default ``labels.max() + 1``.
            n_init: KMeans restarts (fixed so results do not depend on scikit-learn's 'auto').
            dtype: dtype of the float buffers (computation is float64).

        Returns:
            A SemanticMemory with R = num_clusters * num_reps.
        """
        from sklearn.cluster import KMeans

        x = _as_numpy(features, "features").astype(np.float64, copy=False)
        y = _as_numpy(labels, "labels")
        if x.ndim != 2:
            raise ValueError(f"SemanticMemory.build: features must be [N, d], got shape {tuple(x.shape)}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"SemanticMemory.build: labels must be [N] with N={x.shape[0]} matching features, got {tuple(y.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError("SemanticMemory.build: features is empty")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"SemanticMemory.build: labels must be integers, got dtype {y.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("SemanticMemory.build: features contain NaN or inf")
        if num_clusters < 1 or num_reps < 1:
            raise ValueError(
                f"SemanticMemory.build: num_clusters ({num_clusters}) and num_reps ({num_reps}) must be >= 1"
            )
        if y.min() < 0:
            raise ValueError(f"SemanticMemory.build: labels must be >= 0, got {y.min()}")
        C = int(y.max()) + 1 if num_classes is None else int(num_classes)
        if y.max() >= C:
            raise ValueError(f"SemanticMemory.build: label {y.max()} out of range for num_classes={C}")
        k, m, d = int(num_clusters), int(num_reps), x.shape[1]
        R = k * m
        centroids = np.zeros((C, d))
        reps = np.zeros((C, R, d))
        rep_mask = np.zeros((C, R), dtype=bool)
        class_mask = np.zeros(C, dtype=bool)
        for c in range(C):
            xc = x[y == c]
            n_c = xc.shape[0]
            if n_c == 0:
                continue  # absent class: zeros, masked out
            class_mask[c] = True
            centroids[c] = xc.mean(axis=0)  # eq. 2
            k_c = min(k, n_c)
            if k_c == 1:
                assign = np.zeros(n_c, dtype=np.int64)
            else:
                km = KMeans(n_clusters=k_c, n_init=n_init, random_state=seed).fit(xc)
                assign = km.labels_
            for j in range(k_c):
                members = xc[assign == j]
                if members.shape[0] == 0:
                    continue  # empty sub-cluster (only with duplicated points): its block stays masked
                mu_j = members.mean(axis=0)  # eq. 3
                dist = np.linalg.norm(members - mu_j, axis=1)
                order = np.argsort(dist, kind="stable")[:m]  # eq. 4: the m members nearest mu_j
                reps[c, j * m : j * m + order.size] = members[order]
                rep_mask[c, j * m : j * m + order.size] = True
        mem = cls(C, R, d, num_clusters=k, reps_per_cluster=m, dtype=dtype)
        mem.centroids.copy_(torch.from_numpy(centroids))
        mem.reps.copy_(torch.from_numpy(reps))
        mem.rep_mask.copy_(torch.from_numpy(rep_mask))
        mem.class_mask.copy_(torch.from_numpy(class_mask))
        mem.refresh()
        return mem

    @classmethod
    def from_official(
        cls,
        bank: Union[ArrayLike, str, os.PathLike],
        *,
        expected_dim: Optional[int] = None,
        dtype: torch.dtype = torch.float32,
    ) -> SemanticMemory:
        """Wrap the official DDESeg bank ``[C, m, d]`` (array, tensor or ``.npy`` path).

        ``centroids = bank.mean(1)`` exactly as the official ``TokenFeatureEnhancer``; every class and slot is
        valid (the official code has no notion of an absent class, so an all-zero row stays selectable).
        """
        where = "bank"
        if isinstance(bank, (str, os.PathLike)):
            where = os.fspath(bank)
            if not os.path.isfile(where):
                raise FileNotFoundError(f"SemanticMemory.from_official: bank file not found: {where}")
            arr = np.load(where, allow_pickle=False)
        else:
            arr = _as_numpy(bank, "bank")
        if arr.ndim != 3:
            raise ValueError(f"SemanticMemory.from_official: {where} must have shape [C, m, d], got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"SemanticMemory.from_official: {where} must be floating point, got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise ValueError(f"SemanticMemory.from_official: {where} contains NaN or inf")
        if expected_dim is not None and arr.shape[2] != expected_dim:
            raise ValueError(
                f"SemanticMemory.from_official: {where} has feature dim {arr.shape[2]}, expected {expected_dim}"
            )
        C, m, d = arr.shape
        t = torch.from_numpy(np.ascontiguousarray(arr))
        mem = cls(C, m, d, num_clusters=m, reps_per_cluster=1, dtype=dtype)
        mem.reps.copy_(t)
        mem.centroids.copy_(t.mean(dim=1))  # mean in the bank's own dtype, as the official code does
        mem.rep_mask.fill_(True)
        mem.class_mask.fill_(True)
        mem.refresh()
        mem.provenance = dict(tag=OFFICIAL_BANK_TAG, source=os.path.basename(where) if where != "bank" else "array")
        return mem

    # ------------------------------------------------------------------ validation
    def check(self, where: str = "SemanticMemory") -> None:
        """Raise ValueError naming ``where`` if the buffers are inconsistent or not finite."""
        _check_tensors(
            {name: getattr(self, name) for name in _BUFFERS}, where=where, expected_dim=None, expected_num_classes=None
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: Union[str, os.PathLike]) -> None:
        """Save buffers and build metadata with ``torch.save`` (readable with ``weights_only=True``)."""
        obj = {name: getattr(self, name).detach().cpu().clone() for name in _BUFFERS}
        obj["format"] = _FORMAT
        obj["format_version"] = _FORMAT_VERSION
        obj["num_clusters"] = self.num_clusters
        obj["reps_per_cluster"] = self.reps_per_cluster
        if self.provenance is not None:
            obj["provenance"] = self.provenance
        torch.save(obj, os.fspath(path))

    @classmethod
    def load(
        cls,
        path: Union[str, os.PathLike],
        *,
        expected_dim: Optional[int] = None,
        expected_num_classes: Optional[int] = None,
    ) -> SemanticMemory:
        """Load a memory written by ``save``; refuses wrong shapes, NaN/inf and dim/class-count mismatches.

        Raises:
            FileNotFoundError, ValueError: the message names the file and the problem.
        """
        from .checkpoint import read_weights_only

        where = os.fspath(path)
        obj = read_weights_only(where, what="SemanticMemory.load: memory file")
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError(f"SemanticMemory.load: {where} is not a saved SemanticMemory (format tag missing)")
        missing = [name for name in _BUFFERS if name not in obj]
        if missing:
            raise ValueError(f"SemanticMemory.load: {where} lacks entries {missing}")
        tensors = {name: obj[name] for name in _BUFFERS}
        _check_tensors(tensors, where=where, expected_dim=expected_dim, expected_num_classes=expected_num_classes)
        C, R, d = tensors["reps"].shape
        mem = cls(
            C,
            R,
            d,
            num_clusters=int(obj.get("num_clusters", 0)),
            reps_per_cluster=int(obj.get("reps_per_cluster", 0)),
            dtype=tensors["reps"].dtype,
        )
        for name in _BUFFERS:
            getattr(mem, name).copy_(tensors[name])
        mem.refresh()
        prov = obj.get("provenance")
        mem.provenance = dict(prov) if isinstance(prov, dict) else None
        return mem


def read_memory_file(path: Union[str, os.PathLike], *, expected_dim: Optional[int] = None) -> SemanticMemory:
    """The one reader of a semantic-memory file: the released bank (``.npy``, :meth:`SemanticMemory.from_official`)
    or a file written by :meth:`SemanticMemory.save` (:meth:`SemanticMemory.load`). Installing it is
    ``DDESeg.set_memory``'s job (``DDESeg.load_pretrained`` for ``pretrained.memory``, the mmseg segmentor for its
    ``semantic_memory_path``)."""
    path = os.fspath(path)
    if path.endswith(".npy"):
        return SemanticMemory.from_official(path, expected_dim=expected_dim)
    return SemanticMemory.load(path, expected_dim=expected_dim)


def _refresh_after_load(module: SemanticMemory, incompatible_keys) -> None:
    module.refresh()


def _check_tensors(
    t: dict,
    *,
    where: str,
    expected_dim: Optional[int],
    expected_num_classes: Optional[int],
) -> None:
    for name in _BUFFERS:
        if not isinstance(t[name], torch.Tensor):
            raise ValueError(f"{where}: '{name}' is {type(t[name]).__name__}, not a tensor")
    cen, reps, rmask, cmask = (t[n] for n in _BUFFERS)
    if cen.ndim != 2:
        raise ValueError(f"{where}: wrong shape: centroids must be [C, d], got {tuple(cen.shape)}")
    C, d = cen.shape
    if reps.ndim != 3 or reps.shape[0] != C or reps.shape[2] != d:
        raise ValueError(f"{where}: wrong shape: reps must be [C={C}, R, d={d}], got {tuple(reps.shape)}")
    R = reps.shape[1]
    if tuple(rmask.shape) != (C, R) or rmask.dtype != torch.bool:
        raise ValueError(
            f"{where}: wrong shape: rep_mask must be bool [{C}, {R}], got {rmask.dtype} {tuple(rmask.shape)}"
        )
    if tuple(cmask.shape) != (C,) or cmask.dtype != torch.bool:
        raise ValueError(f"{where}: wrong shape: class_mask must be bool [{C}], got {cmask.dtype} {tuple(cmask.shape)}")
    for name, x in (("centroids", cen), ("reps", reps)):
        if not x.is_floating_point():
            raise ValueError(f"{where}: {name} must be floating point, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{where}: {name} contains NaN or inf")
    if expected_dim is not None and d != expected_dim:
        raise ValueError(f"{where}: dim mismatch: memory feature dim is {d}, the model expects {expected_dim}")
    if expected_num_classes is not None and C != expected_num_classes:
        raise ValueError(
            f"{where}: class-count mismatch: memory has {C} classes, the model expects {expected_num_classes}"
        )
    bad = (cmask & ~rmask.any(dim=1)).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"{where}: classes {bad} are marked present but have no valid rep")
