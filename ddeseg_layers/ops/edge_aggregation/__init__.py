"""Edge-feature aggregation of DynamicDerivation (eqs. 5-6, 9-10): reference, factorised PyTorch, Triton.

``edge_aggregate`` dispatches between the fused Triton kernels (CUDA), the factorised PyTorch path and the
literal reference (see op.py and ../dispatch.py). ``ProjectedMemoryCache`` reuses memory @ W^T in eval mode.
"""

from .cache import ProjectedMemoryCache, cached_projection
from .op import edge_aggregate
from .reference import edge_aggregate_reference
from .torch_impl import edge_aggregate_torch

__all__ = [
    "ProjectedMemoryCache",
    "cached_projection",
    "edge_aggregate",
    "edge_aggregate_reference",
    "edge_aggregate_torch",
]
