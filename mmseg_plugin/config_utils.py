"""Small helpers for mmengine configs shared by the plugin's stages and tools."""

from __future__ import annotations

from typing import Any

__all__ = ["plain"]


def plain(obj: Any) -> Any:
    """A deep copy of ``obj`` with every ``ConfigDict`` / dict as a plain ``dict`` and tuples as lists (what the
    registries' ``build`` and ``json`` take)."""
    from mmengine.config import ConfigDict

    if isinstance(obj, (ConfigDict, dict)):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj
