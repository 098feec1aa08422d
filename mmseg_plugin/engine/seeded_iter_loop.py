"""``AVSIterBasedTrainLoop``: an iteration-based training loop whose randomness at iteration i depends only on
(seed, rank, i), so a run resumed from a checkpoint continues exactly as the uninterrupted run would have.

mmengine's ``IterBasedTrainLoop`` resumes by re-drawing the sampler's first N batches (the data order is restored
exactly) but does not restore the global random state: every random draw after the resume point differs (random
flips and crops when ``num_workers=0``, DEM's Gumbel noise, dropout), so a resumed run drifts away from the
uninterrupted one. This loop re-seeds Python's ``random``, NumPy's global generator and torch's default generator
from ``iteration_seed(seed, rank, i)`` right before loading the batch of iteration ``i`` (0-based count of finished
iterations), after the resume skip (a wrapper around the loop's data iterator; mmengine's ``run`` is unchanged).
Everything that iteration draws, data transforms in the main process and the model's own noise, is then a function
of the seed, the rank and the iteration only.

Data loader workers (``num_workers > 0``) draw from their own generators, seeded by the loader when it is created;
the resume skip replays the same batches through them, so their draws line up too.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import LOOPS


def iteration_seed(seed: int, rank: int, iteration: int) -> int:
    """A 32-bit seed for iteration ``iteration`` of rank ``rank`` (NumPy's SeedSequence mixing, no collisions in
    practice between neighbouring iterations or ranks)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(rank), int(iteration)]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy's global generator and torch's default generator (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _SeededBatches:
    """Wraps the loop's data iterator: seeds the global generators for the loop's current iteration, then loads."""

    def __init__(self, iterator, loop: AVSIterBasedTrainLoop) -> None:
        self._iterator = iterator
        self._loop = loop

    def __iter__(self):
        return self

    def __next__(self):
        loop = self._loop
        seed_everything(iteration_seed(loop.base_seed, get_rank(), loop.iter))
        return next(self._iterator)


@LOOPS.register_module()
class AVSIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` with per-iteration seeding (module docstring). Same arguments, plus:

    Args:
        seed: base seed; None (default) takes the runner's ``randomness.seed`` (0 when the runner has none).

    mmengine's ``run`` is used unchanged: every ``next`` on the loop's data iterator first seeds for the current
    iteration. The resume skip draws its batches with one seed (they are discarded); the batch of iteration ``i`` is
    then drawn after seeding for ``i``, as in an uninterrupted run.
    """

    def __init__(self, runner, dataloader, max_iters, val_begin=1, val_interval=1000, dynamic_intervals=None,
                 seed=None) -> None:  # fmt: skip
        super().__init__(runner, dataloader, max_iters, val_begin, val_interval, dynamic_intervals)
        self._base_seed = seed
        self.dataloader_iterator = _SeededBatches(self.dataloader_iterator, self)

    @property
    def base_seed(self) -> int:
        if self._base_seed is not None:
            return int(self._base_seed)
        seed = getattr(self.runner, "seed", None)
        return int(seed) if seed is not None else 0
