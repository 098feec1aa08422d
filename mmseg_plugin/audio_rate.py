"""The audio sample rate has one owner, the audio backbone (its ``sample_rate`` attribute, None for precomputed
features); a config's ``LoadAudioWindow`` steps state it a second time for the data pipeline. ``check_sample_rate``
compares the two and refuses a config where they differ (the error names the config and both rates).

Called when a run starts (``SemanticMemoryCheckHook``: before train, val and test) and when a model is built for
inference (``mmseg_plugin.apis.inference.init_model``)."""

from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

PIPELINE_KEYS = ("train_pipeline", "test_pipeline")
LOADER_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _get(obj: Any, key: str) -> Any:
    return obj.get(key, None) if hasattr(obj, "get") else None


def pipeline_sample_rates(cfg) -> Iterator[Tuple[str, int]]:
    """``(where, sample_rate)`` of every ``LoadAudioWindow`` step in the config's pipelines and dataloaders."""
    pipelines = [(key, _get(cfg, key)) for key in PIPELINE_KEYS]
    for key in LOADER_KEYS:
        dataset = _get(_get(cfg, key), "dataset")
        pipelines.append((f"{key}.dataset.pipeline", _get(dataset, "pipeline")))
    for where, steps in pipelines:
        for step in steps or ():
            if _get(step, "type") == "LoadAudioWindow":
                yield where, int(step.get("sample_rate", 16000))  # LoadAudioWindow's default


def check_sample_rate(cfg, backbone_rate: Optional[int], config_name: Optional[str] = None) -> None:
    """Raise ValueError when a ``LoadAudioWindow`` of ``cfg`` resamples to another rate than the audio backbone's
    ``backbone_rate`` (None: the backbone takes precomputed features, nothing to compare)."""
    if backbone_rate is None:
        return
    name = config_name or getattr(cfg, "filename", None) or "<config>"
    for where, rate in pipeline_sample_rates(cfg):
        if rate != int(backbone_rate):
            raise ValueError(
                f"{name}: LoadAudioWindow in {where} resamples the audio to {rate} Hz but the audio backbone "
                f"(model.net.audio) expects {int(backbone_rate)} Hz; set the pipeline's sample_rate (the configs' "
                f"`audio_sample_rate`) to {int(backbone_rate)}"
            )


def check_model_sample_rate(cfg, model, config_name: Optional[str] = None) -> None:
    """``check_sample_rate`` against ``model``'s audio backbone (an ``AVSSegmentor`` or a ``DDESeg``)."""
    net = getattr(model, "net", model)
    audio = getattr(net, "audio", None)
    check_sample_rate(cfg, getattr(audio, "sample_rate", None), config_name)
