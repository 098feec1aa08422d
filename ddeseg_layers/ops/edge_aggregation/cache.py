"""Cache of the projected memory P = memory @ W^T (factorised eqs. 5 / 9) for eval and no-grad use.

The projection costs C*R d x d products per forward; in eval mode memory and W do not change between frames,
so it can be reused. An entry is valid while both tensors are the same objects (weak references), have the same
storage (``data_ptr``), shape, stride, dtype, device and in-place version counter (``_version``: bumped by
``copy_``, ``load_state_dict``, optimizer steps). When autograd would need the projection's graph (grad enabled
and memory or W requires grad) the cache is bypassed and cleared, so training never sees a stale or detached P.
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch

from .torch_impl import project_memory


def _key(t: torch.Tensor) -> Optional[tuple]:
    try:
        version = t._version
    except RuntimeError:  # inference tensors carry no version counter: never cache them
        return None
    return (t.data_ptr(), version, tuple(t.shape), t.stride(), t.dtype, t.device)


class ProjectedMemoryCache:
    """Returns ``memory @ weight.T`` ([C, R, d]), recomputing only when memory or weight changed.

    Example:
        >>> cache = ProjectedMemoryCache()
        >>> with torch.no_grad():
        ...     P = cache(memory, linear.weight)  # computed
        ...     P = cache(memory, linear.weight)  # reused
    """

    def __init__(self) -> None:
        self._refs: Optional[tuple] = None
        self._key: Optional[tuple] = None
        self._value: Optional[torch.Tensor] = None
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Drop the cached projection."""
        self._refs = None
        self._key = None
        self._value = None

    def _valid_for(self, memory: torch.Tensor, weight: torch.Tensor, key: tuple) -> bool:
        if self._refs is None or self._value is None:
            return False
        return self._refs[0]() is memory and self._refs[1]() is weight and self._key == key

    def __call__(self, memory: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (memory.requires_grad or weight.requires_grad):
            self.clear()
            self.misses += 1
            return project_memory(memory, weight)
        km, kw = _key(memory), _key(weight)
        if km is None or kw is None:
            self.clear()
            self.misses += 1
            return project_memory(memory, weight)
        key = (km, kw)
        if self._valid_for(memory, weight, key):
            self.hits += 1
            return self._value
        with torch.no_grad():
            value = project_memory(memory, weight)
        self._refs = (weakref.ref(memory), weakref.ref(weight))
        self._key = key
        self._value = value
        self.misses += 1
        return value
