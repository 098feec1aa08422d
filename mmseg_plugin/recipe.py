"""Which stages of the DDESeg recipe (``tools/run_pipeline.py``) a config asks for: stage-1 fine-tuning and the memory.

* **Stage 1** (fine-tuning the audio encoder on mask-derived frame labels) is not the paper's §4 recipe, which uses the
  AudioSet HTS-AT as is (fine-tuning appears only in the footnote of Fig. 1). ``stage1_enabled(cfg)`` reads the
  config's ``audio_finetune``: True / False force it; None (or absent) means "on exactly when the config has an
  ``audio_classifier`` whose encoder starts from no pretrained checkpoint" -- the synthetic configs, whose encoder
  only exists once stage 1 has trained it; the paper configs (AudioSet HTS-AT / VGGish checkpoints) stay off. With
  stage 1 off and a stage "audio_pretrain" in the config, ``tools/run_pipeline.py`` builds the memory with, and trains
  DDESeg on, the pre-trained encoder as it is (frozen, as the release keeps its AudioSet HTS-AT).
* **Stage 2** (building the memory) is skipped when the config supplies its own bank (``model.net.pretrained.memory``,
  e.g. the released ``1s_k5_feabank.npy``): ``supplied_memory(cfg)`` returns that path.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["stage1_enabled", "supplied_memory"]


def _get(node, *keys):
    for key in keys:
        if node is None or not hasattr(node, "get"):
            return None
        node = node.get(key, None)
    return node


def stage1_enabled(cfg) -> tuple[bool, str]:
    """``(on, reason)`` for stage 1 of ``cfg`` (see the module docstring)."""
    clf = cfg.get("audio_classifier", None)
    flag = cfg.get("audio_finetune", None)
    if flag not in (None, True, False):
        raise ValueError(f"config: audio_finetune must be True, False or None (auto), got {flag!r}")
    if clf is None:
        if flag:
            raise ValueError("config: audio_finetune=True but the config has no `audio_classifier` (stage-1 recipe)")
        return False, "config has no `audio_classifier`: the configured audio encoder is used as is"
    if flag is not None:
        return bool(flag), f"audio_finetune={flag}"
    pretrained = _get(clf, "model", "audio", "checkpoint")
    if pretrained:
        return False, (
            f"the encoder is pretrained ({pretrained}) and used as is, as the paper's §4 "
            "(set `audio_finetune = True` to fine-tune it on mask-derived labels first)"
        )
    return True, "no pretrained audio encoder: stage 1 trains it"


def supplied_memory(cfg) -> Optional[str]:
    """The bank a config brings itself (``model.net.pretrained.memory``), or None."""
    path = _get(cfg.get("model", None), "net", "pretrained", "memory")
    return str(path) if path else None
