"""``AblateAudio``: replace a frame's audio window, for the audio-dependence diagnostics only (never in training).

No paper equation. Used by :mod:`mmseg_plugin.diagnostics` to evaluate a trained model through the real test path
(dataset, pipeline, ``model.test_step``, ``AVSMetric``) with its audio taken away:

* ``mode="zero"``: ``results['audio']`` becomes zeros of the same shape and dtype (waveform ``[T]`` / ``[C, T]``,
  log-mel ``[1, 96, 64]`` or precomputed features ``[d]``); placed after ``LoadAudioWindow``.
* ``mode="donor"``: ``results['audio']`` becomes another frame's audio window, loaded with the pipeline's own
  ``LoadAudioWindow`` settings (``loader``, a transform config) from the donor's data-info audio fields
  (``DONOR_KEYS``). ``donors`` lists ``dict(clip_id, frame_index, donor=dict(...))`` entries, one per frame, made by
  :func:`mmseg_plugin.diagnostics.shuffled_audio_donors` (a seeded derangement of the clips). A frame without an entry
  is an error naming the clip and frame (the diagnostic must never score a frame with its own audio by accident).

``results['audio_ablation']`` records what was done (mode, donor clip and frame).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

__all__ = ["AblateAudio", "DONOR_KEYS"]

# data-info keys LoadAudioWindow reads (frame_index selects the row of a log-mel cache)
DONOR_KEYS = (
    "audio_path", "audio_start", "audio_end", "audio_pan", "audio_window_seconds", "audio_format", "frame_index",
    "clip_id", "sample_idx",
)  # fmt: skip
MODES = ("zero", "donor")


@TRANSFORMS.register_module()
class AblateAudio(BaseTransform):
    """Replace ``results['audio']`` by zeros or by a donor frame's audio window.

    Args:
        mode: ``"zero"`` or ``"donor"``.
        donors: ``mode="donor"``: entries ``dict(clip_id=..., frame_index=..., donor=dict(<DONOR_KEYS>))``.
        loader: ``mode="donor"``: the ``LoadAudioWindow`` config that loads the donor window (the pipeline's own).
    """

    def __init__(self, mode: str, donors: Optional[Sequence[dict]] = None, loader: Optional[dict] = None) -> None:
        if mode not in MODES:
            raise ValueError(f"AblateAudio: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.donors: dict = {}
        self.loader = None
        if mode == "donor":
            if not donors:
                raise ValueError("AblateAudio: mode='donor' needs a non-empty `donors` list")
            if not loader or loader.get("type") is None:
                raise ValueError("AblateAudio: mode='donor' needs `loader`, the pipeline's LoadAudioWindow config")
            for k, entry in enumerate(donors):
                try:
                    key = (str(entry["clip_id"]), int(entry["frame_index"]))
                    donor = dict(entry["donor"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(
                        f"AblateAudio: donors[{k}] must be dict(clip_id, frame_index, donor=dict), got {entry!r}"
                    ) from exc
                if key in self.donors:
                    raise ValueError(f"AblateAudio: donors list clip {key[0]!r} frame {key[1]} twice")
                if "audio_path" not in donor:
                    raise ValueError(f"AblateAudio: donor of clip {key[0]!r} frame {key[1]} has no audio_path")
                self.donors[key] = donor
            self.loader = TRANSFORMS.build(dict(loader))

    def transform(self, results: dict) -> dict:
        if "audio" not in results:
            raise KeyError(
                f"AblateAudio: results of {results.get('img_path')} hold no 'audio' (put it after LoadAudioWindow)"
            )
        if self.mode == "zero":
            audio = results["audio"]
            results["audio"] = torch.zeros_like(audio) if isinstance(audio, torch.Tensor) else np.zeros_like(audio)
            results["audio_ablation"] = dict(mode="zero")
            return results
        key = (str(results.get("clip_id")), int(results.get("frame_index", -1)))
        donor = self.donors.get(key)
        if donor is None:
            raise KeyError(
                f"AblateAudio: no donor for clip {key[0]!r} frame {key[1]} ({results.get('img_path')}); "
                f"{len(self.donors)} frames have one"
            )
        if donor.get("clip_id") == key[0]:
            raise ValueError(f"AblateAudio: clip {key[0]!r} frame {key[1]} would get its own clip's audio")
        loaded = self.loader(dict(donor))
        if loaded is None or "audio" not in loaded:
            raise RuntimeError(f"AblateAudio: the loader returned no audio for donor {donor.get('audio_path')}")
        if np.shape(loaded["audio"]) != np.shape(results["audio"]):
            raise ValueError(
                f"AblateAudio: donor window of {donor.get('audio_path')} has shape {np.shape(loaded['audio'])}, "
                f"the frame's own {np.shape(results['audio'])} ({results.get('img_path')})"
            )
        results["audio"] = loaded["audio"]
        results["audio_ablation"] = dict(
            mode="donor", donor_clip=donor.get("clip_id"), donor_frame=donor.get("frame_index")
        )
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r}, donors={len(self.donors)}, loader={self.loader!r})"
