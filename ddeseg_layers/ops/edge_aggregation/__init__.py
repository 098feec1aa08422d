"""Edge-feature aggregation of DynamicDerivation (eqs. 5-6, 9-10): reference, factorised PyTorch, Triton."""
from .reference import edge_aggregate_reference

# NOTE: `edge_aggregate` (the dispatching entry point) is provided by op.py (issue 5). Until it lands the
# reference is the only backend.
try:
    from .op import edge_aggregate  # noqa: F401
except ImportError:  # op.py not written yet
    edge_aggregate = edge_aggregate_reference

__all__ = ["edge_aggregate", "edge_aggregate_reference"]
