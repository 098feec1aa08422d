"""Cache of the projected memory P = memory @ W^T (factorised eqs. 5 / 9) for eval and no-grad use.

The projection costs C*R d x d products per forward; in eval mode memory and W do not change between frames,
so it can be reused. An entry is valid while both tensors have the same storage address (``data_ptr``), shape,
stride, dtype, device and in-place version counter (``_version``: bumped by ``copy_``, ``load_state_dict``,
optimizer steps; shared by views, so ``centroids[:, None]`` built afresh each forward still hits). The cache holds
references to the tensors it keyed on, so their addresses cannot be reused by other tensors while it is valid.
When autograd would need the projection's graph (grad enabled and memory or W requires grad), or under
``torch.compile``, the cache is bypassed, so training never sees a stale or detached P.
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

    def _valid_for(self, key: tuple) -> bool:
        return self._value is not None and self._key == key

    def __call__(self, memory: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return project_memory(memory, weight)
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
        if self._valid_for(key):
            self.hits += 1
            return self._value
        with torch.no_grad():
            value = project_memory(memory, weight)
        self._refs = (memory, weight)  # keeps the keyed addresses alive (no reuse by other tensors)
        self._key = key
        self._value = value
        self.misses += 1
        return value


_OWNER_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_projection(owner: object, name: str, memory: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``memory @ weight.T`` through a ``ProjectedMemoryCache`` owned by ``owner`` (e.g. a module) under ``name``.

    Lets a module use the cache without holding one as an attribute:
    ``edge_aggregate(..., memory_proj=cached_projection(self, "s2", reps, lin.weight))``.
    """
    caches = _OWNER_CACHES.setdefault(owner, {})
    cache = caches.get(name)
    if cache is None:
        cache = caches[name] = ProjectedMemoryCache()
    return cache(memory, weight)
