"""When the forward may read tensor values on the host (value checks that need a device -> host copy).

A few checks in the forward path read values back to Python: ``PrecomputedAudio`` refuses NaN / inf features,
``DynamicDerivation`` counts the memory's present classes from its buffers. Each such read is a device -> host
synchronisation, and three ways of running the network forbid it:

* ``torch.compile``: the read splits the graph (a graph break);
* CUDA graph capture (``torch.cuda.graph``, ``make_graphed_callables``, ``torch.compile(mode="reduce-overhead")``):
  a synchronisation while the stream captures is an error, so a captured training step must have none;
* the ``meta`` device (shapes without values): there is nothing to read.

:func:`values_readable` says whether such a read is allowed now; where it is not, the modules use the cached Python
summaries they keep for the purpose (``SemanticMemory.present_count``) or skip the value check (its eager run is
the check). The tests run a whole training step on the ``meta`` device: any remaining read fails there, which is how
the capture-safety of the step is verified on a machine without a GPU.
"""

from __future__ import annotations

import torch


def values_readable(*tensors: torch.Tensor) -> bool:
    """False under ``torch.compile``, when any of ``tensors`` is on ``meta``, or when one is on a CUDA device whose
    current stream is capturing a CUDA graph (asked only then: a CPU run never touches CUDA)."""
    if torch.compiler.is_compiling():
        return False
    devices = {t.device.type for t in tensors}
    if "meta" in devices:
        return False
    return not ("cuda" in devices and torch.cuda.is_current_stream_capturing())
