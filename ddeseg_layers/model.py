"""DDESeg: the full audio-visual segmentation network of paper eq. (1).

    M_hat = D({F_f(A^l, V^l)}_{l=1..L}),   A^1 = Phi_D(F_a),   A^l = Phi_E(A^(l-1), V^l) for l > 1

Data flow and shapes (B frames, K derived tokens, d = d_audio, C_l stage widths)::

    audio  -> self.audio (HTSAT / VGGish / precomputed) -> F_a            [B, d]
    F_a, self.memory -> self.derivation (DDM, Phi_D)     -> A^1            [B, K, d]
    image, A^1 -> self.encoder (MiT + DEM Phi_E + fusion F_f per stage) -> 4 maps [B, C_l, H_l, W_l]
    maps -> self.head (SegFormer all-MLP, D)            -> logits at stage-1 resolution
    bilinear upsample to the input size                 -> [B, num_classes, H, W]

``variant="official"`` builds the released network instead (stage-1 stride 2, LayerNorm eps 1e-5, an
OfficialAVAligner after every patch embedding followed by plain MiT blocks, official DDM, head BatchNorm eps 1e-3 /
momentum 0.03, final upsample with ``align_corners=True``); see docs/design.md for every difference.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import LoadReport

__all__ = ["DDESegConfig", "DDESeg", "build_ddeseg", "preset_config", "PRESETS"]


@dataclass
class DDESegConfig:
    """Configuration of :class:`DDESeg` (every field a plain value or dict, so configs stay serialisable).

    Attributes:
        num_classes: output channels: C + 1 (background) for AVSS (71) / VPO (22); 1 for binary S4 / MS3.
        variant: ``"paper"`` or ``"official"``.
        encoder: ``"mit_b5"``, ``"mit_b0"``, ``"mit_b1"``, ``"mit_b2"``, ``"pvt_v2_b5"`` or a MiT geometry dict
            (keys of :class:`~ddeseg_layers.encoder.MiTGeometry`; ``type: "pvt"`` selects timm PVT-v2 with it).
        audio: ``build_audio_backbone`` config (``type`` htsat / vggish / precomputed, ``frozen``, ...).
        memory: ``num_classes`` (default ``num_classes``, required when that is 1), ``num_reps`` (5), ``dim``
            (default: the audio backbone's ``out_dim``).
        derivation: DynamicDerivation kwargs: ``num_neighbors`` K (5), ``step3`` (True), ``enabled`` (True).
        elimination: DynamicElimination kwargs: ``num_heads`` (8), ``num_centers`` (5), ``tau`` (1.0),
            ``scheme`` ("gs"; Table 4), ``stage1`` (False: eq. 1 applies Phi_E only for l > 1), ``enabled``
            (False = scheme "none": S = 1, Table 3 rows without DEM).
        fusion: extra AudioQueryFusionBlock kwargs; ``depth`` sets the PVT fusion depth per stage (1).
        head: ``embed_dim`` (768), ``dropout`` (0.1), ``bn_eps``, ``bn_momentum``.
        align_corners: final logits upsampling (paper default False, official True).
        checkpoint_stages: encoder stages (1-4, MiT encoders) whose blocks run under activation checkpointing in
            training (less memory, one extra forward of those blocks; the same values and gradients). Default none.
        pretrained: optional paths: ``encoder`` (NVlabs / mmseg MiT or timm / AVSBench PVT), ``memory`` (``.npy``
            official bank or a saved SemanticMemory), ``official`` (an official DDESeg checkpoint), ``model`` (our own
            full checkpoint), ``head`` (the ``decode_head.*`` of a SegFormer-format segmentor checkpoint with NVlabs
            head names and this model's class count, e.g. the synthetic recipes' stage "visual" output; strict).
    """

    num_classes: int = 71
    variant: str = "paper"
    encoder: Any = "mit_b5"
    audio: dict = field(default_factory=lambda: {"type": "htsat"})
    memory: dict = field(default_factory=dict)
    derivation: dict = field(default_factory=dict)
    elimination: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    align_corners: bool | None = None
    checkpoint_stages: list = field(default_factory=list)
    pretrained: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | DDESegConfig) -> DDESegConfig:
        """Validate and copy a plain dict (unknown keys raise ValueError naming them)."""
        if isinstance(cfg, DDESegConfig):
            return copy.deepcopy(cfg)
        if not isinstance(cfg, Mapping):
            raise TypeError(f"DDESeg config must be a dict or DDESegConfig, got {type(cfg).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown DDESeg config keys {unknown}; allowed: {sorted(known)}")
        cfg = copy.deepcopy(dict(cfg))
        if cfg.get("variant", "paper") not in ("paper", "official"):
            raise ValueError(f"DDESeg config 'variant' must be 'paper' or 'official', got {cfg['variant']!r}")
        for key in ("audio", "memory", "derivation", "elimination", "fusion", "head", "pretrained"):
            if key in cfg and cfg[key] is not None and not isinstance(cfg[key], Mapping):
                raise ValueError(f"DDESeg config '{key}' must be a dict, got {type(cfg[key]).__name__}")
            if key in cfg and cfg[key] is None:
                cfg[key] = {}
        return cls(**cfg)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # the paper's configuration: MiT-B5 fusion stages, frozen HTSAT, AVSS (70 classes + background)
    "paper-mit_b5-htsat": dict(num_classes=71, encoder="mit_b5", audio=dict(type="htsat", frozen=True)),
    "paper-mit_b5-vggish": dict(num_classes=71, encoder="mit_b5", audio=dict(type="vggish", frozen=True)),
    "paper-pvt_v2_b5-htsat": dict(num_classes=71, encoder="pvt_v2_b5", audio=dict(type="htsat", frozen=True)),
    # the released network (103.88M trainable parameters)
    "official": dict(
        num_classes=71, variant="official", encoder="mit_b5", audio=dict(type="htsat", variant="official", frozen=True)
    ),
    # a CPU-sized model for tests and the synthetic demo
    "tiny": dict(
        num_classes=4,
        encoder=dict(
            embed_dims=(16, 16, 32, 32),
            num_heads=(1, 1, 2, 2),
            depths=(1, 1, 1, 1),
            sr_ratios=(4, 2, 1, 1),
            drop_path_rate=0.0,
        ),
        audio=dict(type="precomputed", dim=32),
        memory=dict(num_classes=4, num_reps=3),
        derivation=dict(num_neighbors=2),
        elimination=dict(num_heads=2, num_centers=3),
        head=dict(embed_dim=32),
    ),
}


def preset_config(name: str) -> dict:
    """A deep copy of a named preset (``paper-mit_b5-htsat``, ``official``, ``tiny``, ...)."""
    if name not in PRESETS:
        raise ValueError(f"unknown DDESeg preset {name!r}; known: {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


_OFFICIAL_GEOMETRY = dict(strides=(2, 2, 2, 2), norm_eps=1e-5)
# the official aligners take these (scheme: Table 3/4 ablations on the released network, docs/design.md)
_OFFICIAL_ELIMINATION_KEYS = {"scheme", "num_heads", "num_centers", "tau"}


class DDESeg(nn.Module):
    """The DDESeg network (paper eq. 1). Build it with :func:`build_ddeseg`.

    Submodules: ``audio`` (F_a), ``memory`` (SemanticMemory buffers, in the state_dict), ``derivation`` (DDM),
    ``encoder`` (visual encoder with DEMs and fusion), ``head`` (SegFormer head).
    """

    def __init__(self, cfg: Mapping[str, Any] | DDESegConfig) -> None:
        super().__init__()
        from .audio import build_audio_backbone
        from .derivation import DynamicDerivation
        from .encoder import MiTFusionEncoder, MiTGeometry
        from .head import SegFormerHead
        from .memory import SemanticMemory

        cfg = DDESegConfig.from_dict(cfg)
        self.cfg = cfg
        self.variant = cfg.variant
        official = cfg.variant == "official"
        if cfg.num_classes < 1:
            raise ValueError(f"DDESeg config 'num_classes' must be >= 1, got {cfg.num_classes}")
        self.num_classes = cfg.num_classes

        # F_a: audio backbone
        self.audio = build_audio_backbone(dict(cfg.audio))
        self.audio_dim = int(self.audio.out_dim)

        # semantic memory (eqs. 2-4)
        mem = dict(cfg.memory)
        unknown = sorted(set(mem) - {"num_classes", "num_reps", "dim"})
        if unknown:
            raise ValueError(f"DDESeg config 'memory' has unknown keys {unknown}; allowed: num_classes, num_reps, dim")
        mem_classes = mem.get("num_classes", cfg.num_classes)
        if mem.get("dim", self.audio_dim) != self.audio_dim:
            raise ValueError(
                f"DDESeg config 'memory.dim' ({mem['dim']}) must equal the audio backbone's out_dim ({self.audio_dim})"
            )
        der = dict(cfg.derivation)
        k = der.setdefault("num_neighbors", 5)
        if "num_classes" not in mem and cfg.num_classes < k:
            raise ValueError(
                f"DDESeg config: num_classes={cfg.num_classes} < K={k} neighbours; set 'memory.num_classes' to the "
                "number of audio classes in the semantic memory (binary S4/MS3 outputs 1 channel)"
            )
        if k > mem_classes:
            raise ValueError(f"DDESeg config: derivation.num_neighbors K={k} exceeds memory.num_classes={mem_classes}")
        self.memory = SemanticMemory.empty(mem_classes, mem.get("num_reps", 5), self.audio_dim)

        # Phi_D
        der.setdefault("variant", cfg.variant)
        self.derivation = DynamicDerivation(self.audio_dim, **der)

        # visual encoder with Phi_E and F_f
        enc = cfg.encoder
        is_pvt = enc == "pvt_v2_b5" or (isinstance(enc, Mapping) and enc.get("type") == "pvt")
        fusion = dict(cfg.fusion)
        elim = dict(cfg.elimination)
        if not elim.pop("enabled", True):  # Table 3 rows without DEM: S = 1, no parameters
            elim["scheme"] = "none"
        if is_pvt:
            if official:
                raise ValueError("DDESeg config: variant='official' only exists with the MiT-B5 encoder")
            if cfg.checkpoint_stages:
                raise ValueError("DDESeg config: 'checkpoint_stages' applies to the MiT encoders only")
            from .pvt import PVTFusionEncoder

            geom = enc if isinstance(enc, str) else {k2: v for k2, v in enc.items() if k2 != "type"}
            depth = fusion.pop("depth", 1)
            self.encoder = PVTFusionEncoder(geom, self.audio_dim, elim, fusion, fusion_depth=depth)
        else:
            geom = MiTGeometry.from_spec(enc, **(_OFFICIAL_GEOMETRY if official else {}))
            if official and fusion:
                raise ValueError("DDESeg config: 'fusion' options apply to variant='paper' only")
            if official and set(elim) - _OFFICIAL_ELIMINATION_KEYS:
                raise ValueError(
                    f"DDESeg config: variant='official' takes elimination keys {sorted(_OFFICIAL_ELIMINATION_KEYS)} "
                    f"(+ enabled), got {sorted(set(elim) - _OFFICIAL_ELIMINATION_KEYS)}"
                )
            self.encoder = MiTFusionEncoder(
                geom,
                self.audio_dim,
                cfg.variant,
                elimination=elim,
                fusion=fusion,
                checkpoint_stages=tuple(cfg.checkpoint_stages or ()),
            )

        # D: segmentation head
        head = dict(cfg.head)
        head.setdefault("fused", True)  # the same head function, without its 4E-channel map (head.py)
        if official:
            head.setdefault("bn_eps", 1e-3)
            head.setdefault("bn_momentum", 0.03)
        self.head = SegFormerHead(self.encoder.embed_dims, cfg.num_classes, **head)
        self.align_corners = official if cfg.align_corners is None else bool(cfg.align_corners)

        if cfg.pretrained:
            self.load_pretrained(cfg.pretrained)

    # ------------------------------------------------------------------ audio / memory
    def extract_audio_features(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio`` as the audio backbone expects -> F_a ``[B, d_audio]``."""
        fa = self.audio(audio)
        if fa.dim() != 2 or fa.shape[1] != self.audio_dim:
            raise ValueError(f"DDESeg: audio backbone returned {tuple(fa.shape)}, expected [B, {self.audio_dim}]")
        return fa

    def set_memory(self, memory: nn.Module) -> None:
        """Install a SemanticMemory (class count and dim must match; the number of rep slots may differ).

        Raises:
            ValueError naming the mismatching quantity.
        """
        from .memory import SemanticMemory

        if not isinstance(memory, SemanticMemory):
            raise TypeError(f"DDESeg.set_memory: expected a SemanticMemory, got {type(memory).__name__}")
        if memory.num_classes != self.memory.num_classes:
            raise ValueError(
                f"DDESeg.set_memory: memory has {memory.num_classes} classes, the model was built for "
                f"{self.memory.num_classes} (config 'memory.num_classes')"
            )
        if memory.dim != self.audio_dim:
            raise ValueError(f"DDESeg.set_memory: memory dim {memory.dim} != audio feature dim {self.audio_dim}")
        ref = self.memory.centroids
        self.memory = memory.to(device=ref.device)

    @property
    def last_scores(self) -> list[torch.Tensor]:
        """Per-stage DEM scores ``S^l`` [B, K] of the last forward (paper: stages 2-4)."""
        return list(self.encoder.last_scores)

    # ------------------------------------------------------------------ forward
    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """``image [B, 3, H, W]`` (normalised), ``audio`` (backbone input) -> logits ``[B, num_classes, H, W]``."""
        if image.dim() != 4:
            raise ValueError(f"DDESeg: image must be [B, 3, H, W], got {tuple(image.shape)}")
        fa = self.extract_audio_features(audio)
        if fa.shape[0] != image.shape[0]:
            raise ValueError(f"DDESeg: {image.shape[0]} images but {fa.shape[0]} audio features")
        tokens = self.derivation(fa, self.memory)  # A^1 = Phi_D(F_a)  [B, K, d]
        feats = self.encoder(image, tokens)
        logits = self.head(feats)
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=self.align_corners)

    # ------------------------------------------------------------------ parameters / loading
    def param_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Parameters by part: visual encoder, fusion/aligners (audio parts of the stages), audio projections,
        DDM, DEM, head, audio backbone."""
        from .mit_blocks import is_mit_key

        groups: dict[str, list] = {
            k: []
            for k in ("visual encoder", "fusion/aligners", "audio projections", "DDM", "DEM", "head", "audio backbone")
        }
        for name, p in self.named_parameters():
            if name.startswith("audio."):
                groups["audio backbone"].append((name, p))
            elif name.startswith("derivation."):
                groups["DDM"].append((name, p))
            elif name.startswith("head."):
                groups["head"].append((name, p))
            elif name.startswith("encoder.aud_projs."):
                groups["audio projections"].append((name, p))
            elif name.startswith("encoder.dems."):
                groups["DEM"].append((name, p))
            elif name.startswith("encoder.pvt.") or is_mit_key(name[len("encoder.") :]):
                groups["visual encoder"].append((name, p))
            else:
                groups["fusion/aligners"].append((name, p))
        return groups

    def load_pretrained(self, pretrained: Mapping[str, Any]) -> dict[str, LoadReport | None]:
        """Load the checkpoints named in ``pretrained`` (see :class:`DDESegConfig`); all strict."""
        from .checkpoint import load_checkpoint_file, load_state_dict_strict
        from .converters import load_encoder_pretrained, load_head_pretrained, load_official_ddeseg
        from .memory import read_memory_file

        unknown = sorted(set(pretrained) - {"encoder", "head", "memory", "official", "model"})
        if unknown:
            raise ValueError(f"DDESeg config 'pretrained' has unknown keys {unknown}")
        reports: dict[str, LoadReport | None] = {}
        if pretrained.get("encoder"):
            reports["encoder"] = load_encoder_pretrained(self.encoder, pretrained["encoder"])
        if pretrained.get("head"):
            reports["head"] = load_head_pretrained(self.head, pretrained["head"])
        if pretrained.get("official"):
            reports["official"] = load_official_ddeseg(self, pretrained["official"])
        if pretrained.get("model"):
            path = pretrained["model"]
            reports["model"] = load_state_dict_strict(self, load_checkpoint_file(path), what=str(path))
        if pretrained.get("memory"):
            self.set_memory(read_memory_file(str(pretrained["memory"]), expected_dim=self.audio_dim))
            reports["memory"] = None
        return reports


def build_ddeseg(cfg: Mapping[str, Any] | DDESegConfig | str) -> DDESeg:
    """Build a :class:`DDESeg` from a config dict, a :class:`DDESegConfig` or a preset name."""
    if isinstance(cfg, str):
        cfg = preset_config(cfg)
    return DDESeg(cfg)
