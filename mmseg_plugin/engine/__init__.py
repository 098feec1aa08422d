"""Training loops of the plugin (registered in mmseg's LOOPS registry)."""

from .seeded_iter_loop import AVSIterBasedTrainLoop, iteration_seed, seed_everything

__all__ = ["AVSIterBasedTrainLoop", "iteration_seed", "seed_everything"]
