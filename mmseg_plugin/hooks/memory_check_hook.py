"""``SemanticMemoryCheckHook``: refuse to train / test with a missing or mismatched semantic memory.

``before_train`` runs after mmengine has resumed or loaded a checkpoint, so the memory is final by then. The hook

1. asks the segmentor for the late load (``AVSSegmentor.load_memory_if_appeared``: ``model.semantic_memory_path``
   if the model's memory is still the empty placeholder and the file exists now; the segmentor's
   ``load_semantic_memory`` raises a ValueError naming the mismatch in class count or dimension and refuses a memory
   built by another audio encoder than the model's). The hook loads nothing itself;
2. checks that the memory's class count and dimension equal ``net.memory``'s configured ones and, when the dataset
   metainfo has ``classes``, that the semantic task's class count (``len(classes)``) equals the model's;
3. raises RuntimeError if the network needs the memory and it is still empty.

Before val/test only step 3 runs (the memory comes from the checkpoint there). Before train, val and test the
config's ``LoadAudioWindow`` sample rates are also compared with the audio backbone's (``mmseg_plugin.audio_rate``).
"""

from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _check_sample_rate(runner, model) -> None:
    """The config's LoadAudioWindow rates against the model's audio backbone (``mmseg_plugin.audio_rate``)."""
    from ..audio_rate import check_model_sample_rate

    cfg = getattr(runner, "cfg", None)
    if cfg is not None:
        check_model_sample_rate(cfg, model, getattr(cfg, "filename", None))


@HOOKS.register_module()
class SemanticMemoryCheckHook(Hook):
    """Validate the semantic memory of an ``AVSSegmentor`` before the run starts."""

    priority = "HIGH"

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        if not hasattr(model, "check_memory"):
            raise TypeError(f"SemanticMemoryCheckHook needs an AVSSegmentor, got {type(model).__name__}")
        _check_sample_rate(runner, model)
        path = getattr(model, "semantic_memory_path", None)
        model.load_memory_if_appeared()
        mem = model.net.memory
        classes = None
        ds = getattr(runner.train_dataloader, "dataset", None)
        if ds is not None:
            classes = getattr(ds, "metainfo", {}).get("classes")
        if model.task == "semantic" and classes is not None and len(classes) != model.num_classes:
            raise ValueError(
                f"the training set has {len(classes)} classes (background included) but the model has "
                f"num_classes={model.num_classes}; fix the config (refusing to start)"
            )
        if model.require_memory:
            model.check_memory()
            runner.logger.info(
                f"semantic memory: {mem.num_classes} classes x {mem.num_reps} reps x {mem.dim} dims "
                f"({int(mem.class_mask.sum())} classes populated) from {path}"
            )

    def before_val(self, runner) -> None:
        _check_sample_rate(runner, _unwrap(runner.model))
        _unwrap(runner.model).check_memory()

    def before_test(self, runner) -> None:
        _check_sample_rate(runner, _unwrap(runner.model))
        _unwrap(runner.model).check_memory()
