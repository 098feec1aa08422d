"""Checkpoint key mappers between published checkpoints and the DDESeg modules (names only; no weights shipped).

Formats (field notes §1.6, §1.7, §6, §7):

* **NVlabs MiT** (``mit_b5.pth``): ``patch_embed{n}.{proj,norm}``, ``block{n}.{j}.{norm1, attn.q, attn.kv, attn.sr,
  attn.norm, attn.proj, norm2, mlp.fc1, mlp.dwconv.dwconv, mlp.fc2}``, ``norm{n}``, ``head``. Our
  :class:`~ddeseg_layers.encoder.MiTFusionEncoder` uses these names, so the mapping is the identity minus ``head.*``
  (the key predicate :func:`~ddeseg_layers.mit_blocks.is_mit_key` lives beside the MiT blocks).
* **mmseg MiT** (``mit_b5_20220624-658746d9.pth``): ``layers.{i}.0.{projection,norm}``,
  ``layers.{i}.1.{j}.{norm1, attn.attn.in_proj_{weight,bias} (= cat[q; kv]), attn.attn.out_proj, attn.sr, attn.norm,
  norm2, ffn.layers.{0,1,4}}`` (fc1/fc2 as 1x1 convs), ``layers.{i}.2``. :func:`mmseg_mit_to_nvlabs` is the exact
  inverse of mmseg's ``tools/model_converters/mit2mmseg.py``; :func:`nvlabs_mit_to_mmseg` is that conversion.
* **timm PVT-v2** (``patch_embed``, ``stages.{i}.{downsample,blocks.{j},norm}``) and the original PVT-v2 /
  AVSBench ``pvt_v2_b5.pth`` names (``patch_embed{n}``, ``block{n}``, ``norm{n}``, ``dwconv.dwconv``): original ->
  timm through timm's own ``checkpoint_filter_fn``; :func:`timm_pvt_to_original` is its inverse.
* **Official DDESeg** state_dict: ``backbone.*`` -> ``encoder.*``, ``aud_enhancer.*`` -> ``derivation.*``,
  ``decode_head.*`` -> ``head.*``, ``audio_model.*`` -> ``audio.*`` (the bank is not in it: load it with
  ``SemanticMemory.from_official``).

Loaders (:func:`load_encoder_pretrained`, :func:`load_official_ddeseg`) go through
:func:`ddeseg_layers.checkpoint.load_state_dict_strict`: strict, with the deliberately new parameters passed as
``allow_missing`` and reported back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .checkpoint import LoadReport, load_checkpoint_file, load_state_dict_strict
from .mit_blocks import MIT_BLOCK_KEY_PATTERN, is_mit_key

__all__ = [
    "nvlabs_mit_to_ours",
    "ours_to_nvlabs_mit",
    "mmseg_mit_to_nvlabs",
    "nvlabs_mit_to_mmseg",
    "pvt_original_to_timm",
    "timm_pvt_to_original",
    "official_ddeseg_to_ours",
    "ours_to_official_ddeseg",
    "load_encoder_pretrained",
    "load_head_pretrained",
    "load_official_ddeseg",
]

StateDict = dict[str, torch.Tensor]


def _strip_common_prefix(sd: Mapping[str, Any], prefix: str) -> dict:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return dict(sd)


# ---------------------------------------------------------------------------------------------- MiT
def nvlabs_mit_to_ours(sd: Mapping[str, torch.Tensor]) -> tuple[StateDict, list[str]]:
    """NVlabs MiT -> encoder keys. Drops ``head.*`` (ImageNet classifier); returns ``(state_dict, dropped)``.

    Raises:
        ValueError listing keys that are not NVlabs MiT keys.
    """
    out, dropped, bad = {}, [], []
    for k, v in sd.items():
        if k.startswith("head."):
            dropped.append(k)
        elif is_mit_key(k):
            out[k] = v
        else:
            bad.append(k)
    if bad:
        raise ValueError(f"not NVlabs MiT keys ({len(bad)}): {bad[:10]}")
    return out, dropped


def ours_to_nvlabs_mit(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """Encoder state dict -> NVlabs MiT keys (audio-specific parameters dropped)."""
    return {k: v for k, v in sd.items() if is_mit_key(k)}


def mmseg_mit_to_nvlabs(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """mmseg ``MixVisionTransformer`` keys -> NVlabs keys (inverse of mmseg's ``mit2mmseg.convert_mit``).

    Raises:
        ValueError listing keys that are not mmseg MiT keys.
    """
    out: StateDict = {}
    bad = []
    for k, v in sd.items():
        m = re.match(r"^layers\.(\d+)\.(\d+)\.(.*)$", k)
        if not m:
            bad.append(k)
            continue
        n, part, rest = int(m.group(1)) + 1, int(m.group(2)), m.group(3)
        if part == 0:  # patch embedding
            rest = rest.replace("projection.", "proj.", 1)
            out[f"patch_embed{n}.{rest}"] = v
        elif part == 2:  # stage norm
            out[f"norm{n}.{rest}"] = v
        elif part == 1:
            bm = re.match(r"^(\d+)\.(.*)$", rest)
            if not bm:
                bad.append(k)
                continue
            pre, sub = f"block{n}.{bm.group(1)}.", bm.group(2)
            if sub.startswith("attn.attn.in_proj_"):
                suffix = sub[len("attn.attn.in_proj_") :]
                c = v.shape[0] // 3
                out[pre + f"attn.q.{suffix}"] = v[:c].clone()
                out[pre + f"attn.kv.{suffix}"] = v[c:].clone()
            elif sub.startswith("attn.attn.out_proj."):
                out[pre + "attn.proj." + sub[len("attn.attn.out_proj.") :]] = v
            elif sub.startswith("ffn.layers."):
                idx, name = sub[len("ffn.layers.") :].split(".", 1)
                target = {"0": "mlp.fc1.", "1": "mlp.dwconv.dwconv.", "4": "mlp.fc2."}.get(idx)
                if target is None:
                    bad.append(k)
                    continue
                if idx in ("0", "4") and name == "weight":
                    v = v.reshape(v.shape[0], v.shape[1])
                out[pre + target + name] = v
            elif sub.startswith(("norm1.", "norm2.", "attn.sr.", "attn.norm.")):
                out[pre + sub] = v
            else:
                bad.append(k)
        else:
            bad.append(k)
    if bad:
        raise ValueError(f"not mmseg MiT keys ({len(bad)}): {bad[:10]}")
    return out


def nvlabs_mit_to_mmseg(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """NVlabs MiT keys -> mmseg keys (the ``mit2mmseg`` conversion; ``head.*`` dropped)."""
    out: StateDict = {}
    for k, v in sd.items():
        if k.startswith("head."):
            continue
        if m := re.match(r"^patch_embed(\d)\.(.*)$", k):
            out[f"layers.{int(m.group(1)) - 1}.0.{m.group(2).replace('proj.', 'projection.', 1)}"] = v
        elif m := re.match(r"^norm(\d)\.(.*)$", k):
            out[f"layers.{int(m.group(1)) - 1}.2.{m.group(2)}"] = v
        elif m := MIT_BLOCK_KEY_PATTERN.match(k):
            pre, sub = f"layers.{int(m.group(1)) - 1}.1.{m.group(2)}.", m.group(3)
            if sub.startswith("attn.q."):
                name = sub[len("attn.q.") :]
                kv = sd[k.replace("attn.q.", "attn.kv.")]
                out[pre + f"attn.attn.in_proj_{name}"] = torch.cat([v, kv], dim=0)
            elif sub.startswith("attn.kv."):
                continue
            elif sub.startswith("attn.proj."):
                out[pre + "attn.attn.out_proj." + sub[len("attn.proj.") :]] = v
            elif sub.startswith("mlp."):
                for src, dst in (
                    ("mlp.fc1.", "ffn.layers.0."),
                    ("mlp.dwconv.dwconv.", "ffn.layers.1."),
                    ("mlp.fc2.", "ffn.layers.4."),
                ):
                    if sub.startswith(src):
                        name = sub[len(src) :]
                        if src != "mlp.dwconv.dwconv." and name == "weight":
                            v = v.reshape(*v.shape, 1, 1)
                        out[pre + dst + name] = v
                        break
                else:
                    raise ValueError(f"not an NVlabs MiT key: {k}")
            else:
                out[pre + sub] = v
        else:
            raise ValueError(f"not an NVlabs MiT key: {k}")
    return out


# ---------------------------------------------------------------------------------------------- PVT-v2
def pvt_original_to_timm(sd: Mapping[str, torch.Tensor]) -> tuple[StateDict, list[str]]:
    """Original PVT-v2 / AVSBench ``pvt_v2_b5.pth`` keys -> timm keys via timm's ``checkpoint_filter_fn``
    (already-timm dicts pass through). ``head.*`` is dropped; returns ``(state_dict, dropped)``."""
    from timm.models.pvt_v2 import checkpoint_filter_fn

    mapped = checkpoint_filter_fn(dict(sd), None)
    dropped = [k for k in mapped if k.startswith("head.")]
    return {k: v for k, v in mapped.items() if not k.startswith("head.")}, dropped


def timm_pvt_to_original(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm PVT-v2 keys -> original PVT-v2 names (inverse of timm's ``checkpoint_filter_fn``)."""
    out: StateDict = {}
    for k, v in sd.items():
        nk = k
        if nk.startswith("patch_embed."):
            nk = "patch_embed1." + nk[len("patch_embed.") :]
        elif m := re.match(r"^stages\.(\d+)\.downsample\.(.*)$", nk):
            nk = f"patch_embed{int(m.group(1)) + 1}.{m.group(2)}"
        elif m := re.match(r"^stages\.(\d+)\.blocks\.(\d+)\.(.*)$", nk):
            nk = f"block{int(m.group(1)) + 1}.{m.group(2)}.{m.group(3).replace('mlp.dwconv.', 'mlp.dwconv.dwconv.')}"
        elif m := re.match(r"^stages\.(\d+)\.norm\.(.*)$", nk):
            nk = f"norm{int(m.group(1)) + 1}.{m.group(2)}"
        out[nk] = v
    return out


# ---------------------------------------------------------------------------------------------- official DDESeg
_OFFICIAL_PREFIXES = (
    ("backbone.", "encoder."),
    ("aud_enhancer.", "derivation."),
    ("decode_head.", "head."),
    ("audio_model.", "audio."),
)


def official_ddeseg_to_ours(sd: Mapping[str, torch.Tensor], *, audio_prefix: str = "audio.") -> StateDict:
    """Official DDESeg state_dict -> :class:`~ddeseg_layers.model.DDESeg` (``variant="official"``) keys.

    Args:
        sd: the official ``checkpoint['model']`` (a leading ``module.`` from DDP is stripped).
        audio_prefix: where ``audio_model.*`` (HTSAT) goes in our model.

    Raises:
        ValueError listing keys outside the four official top-level modules.
    """
    sd = _strip_common_prefix(sd, "module.")
    out: StateDict = {}
    bad = []
    for k, v in sd.items():
        for src, dst in _OFFICIAL_PREFIXES:
            if k.startswith(src):
                out[(audio_prefix if src == "audio_model." else dst) + k[len(src) :]] = v
                break
        else:
            bad.append(k)
    if bad:
        raise ValueError(f"not official DDESeg keys ({len(bad)}): {bad[:10]}")
    return out


def ours_to_official_ddeseg(sd: Mapping[str, torch.Tensor], *, audio_prefix: str = "audio.") -> StateDict:
    """Inverse of :func:`official_ddeseg_to_ours`; ``memory.*`` (not in the official format) is dropped."""
    out: StateDict = {}
    for k, v in sd.items():
        if k.startswith("memory."):
            continue
        if k.startswith(audio_prefix):
            out["audio_model." + k[len(audio_prefix) :]] = v
            continue
        for src, dst in _OFFICIAL_PREFIXES[:3]:
            if k.startswith(dst):
                out[src + k[len(dst) :]] = v
                break
        else:
            raise ValueError(f"key {k} has no official DDESeg counterpart")
    return out


# ---------------------------------------------------------------------------------------------- loaders
def _as_state_dict(src: str | os.PathLike | Mapping[str, torch.Tensor]) -> tuple[dict, str]:
    if isinstance(src, (str, os.PathLike)):
        return load_checkpoint_file(src), os.fspath(src)
    if not isinstance(src, Mapping):
        raise TypeError(f"expected a checkpoint path or a state dict, got {type(src).__name__}")
    return dict(src), "state_dict"


def load_encoder_pretrained(encoder: nn.Module, src: str | os.PathLike | Mapping[str, torch.Tensor]) -> LoadReport:
    """Load ImageNet/ADE visual weights into a fusion encoder, strictly.

    Accepts NVlabs MiT, mmseg MiT (``layers.*``), SegFormer ADE checkpoints (``backbone.*`` + ``decode_head.*``,
    the head is ignored), timm PVT-v2 and original/AVSBench PVT-v2 files. The encoder's audio-specific parameters
    (``encoder.new_keys()``) are the only keys allowed to stay missing; they are listed in the report's
    ``missing_allowed``.

    Raises:
        CheckpointMismatchError: missing / unexpected / shape-mismatched keys.
        ValueError: the file's keys are not in a known format for this encoder.
    """
    sd, what = _as_state_dict(src)
    sd = _strip_common_prefix(sd, "module.")
    ignored = []
    if any(k.startswith("backbone.") for k in sd):  # SegFormer / mmseg segmentor checkpoint
        ignored = [k for k in sd if not k.startswith("backbone.")]
        sd = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    fmt = getattr(encoder, "checkpoint_format", "nvlabs_mit")
    if fmt == "timm_pvt_v2":
        mapped, dropped = pvt_original_to_timm(sd)
        mapped = {"pvt." + k: v for k, v in mapped.items()}
    elif fmt == "nvlabs_mit":
        if any(k.startswith("layers.") for k in sd):
            sd = mmseg_mit_to_nvlabs({k: v for k, v in sd.items() if not k.startswith("head.")})
        mapped, dropped = nvlabs_mit_to_ours(sd)
    else:
        raise ValueError(f"load_encoder_pretrained: unknown encoder checkpoint format {fmt!r}")
    allow = encoder.new_key_patterns() if hasattr(encoder, "new_key_patterns") else encoder.new_keys()
    report = load_state_dict_strict(encoder, mapped, what=what, allow_missing=allow)
    report.ignored = sorted(ignored + dropped)
    return report


def load_head_pretrained(head: nn.Module, src: str | os.PathLike | Mapping[str, torch.Tensor]) -> LoadReport:
    """Load the ``decode_head.*`` tensors of a SegFormer-format segmentor checkpoint into a
    :class:`~ddeseg_layers.head.SegFormerHead`, strictly (NVlabs names ``linear_c{1-4}.proj``, ``linear_fuse.*``,
    ``linear_pred``; the other keys, e.g. ``backbone.*``, are reported as ignored).

    Raises:
        ValueError: the source has no ``decode_head.*`` key.
        CheckpointMismatchError: missing / unexpected / shape-mismatched keys (another class count, an mmseg-named
            head, other stage widths or embedding width).
    """
    sd, what = _as_state_dict(src)
    sd = _strip_common_prefix(sd, "module.")
    head_sd = {k[len("decode_head.") :]: v for k, v in sd.items() if k.startswith("decode_head.")}
    if not head_sd:
        raise ValueError(f"load_head_pretrained: {what} has no 'decode_head.*' keys (a SegFormer-format checkpoint)")
    report = load_state_dict_strict(head, head_sd, what=what)
    report.ignored = sorted(k for k in sd if not k.startswith("decode_head."))
    return report


def official_audio_prefix(model: nn.Module) -> str:
    """Where the official ``audio_model.*`` (HTSAT, ``sed_model.``-free keys) lives in our model:
    ``audio.net.`` for :class:`~ddeseg_layers.audio.HTSATBackbone` (it wraps ``HTSAT`` as ``net``)."""
    return "audio.net." if hasattr(model.audio, "net") else "audio."


def load_official_ddeseg(
    model: nn.Module,
    src: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    bank: Any = None,
    require_audio: bool = True,
) -> LoadReport:
    """Load an official DDESeg checkpoint (``{'model': state_dict, ...}`` or the state dict) strictly.

    Args:
        model: a ``DDESeg`` built with ``variant="official"``.
        src: checkpoint path or state dict with ``backbone.* / aud_enhancer.* / decode_head.* / audio_model.*``.
        bank: the official memory bank ``[71, 5, 768]`` (array / tensor / ``.npy`` path), installed with
            ``SemanticMemory.from_official``; without it ``memory.*`` stays as it is and is reported missing-allowed.
        require_audio: when False, ``audio.*`` may be absent from the checkpoint (e.g. a dict saved without the
            frozen HTSAT); it is then reported missing-allowed.
    """
    from .memory import SemanticMemory

    sd, what = _as_state_dict(src)
    audio_prefix = official_audio_prefix(model)
    mapped = official_ddeseg_to_ours(sd, audio_prefix=audio_prefix)
    allow = []
    if bank is not None:
        model.set_memory(SemanticMemory.from_official(bank, expected_dim=model.audio_dim))
    allow.append("memory.*")  # never in the official format: it comes from `bank` (or stays as built)
    if not require_audio:
        allow.append("audio.*")
    return load_state_dict_strict(model, mapped, what=what, allow_missing=allow)
