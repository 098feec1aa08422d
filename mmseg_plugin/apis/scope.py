"""The registry scope: every registration imported and ``mmseg`` the default scope (building outside a Runner)."""

from __future__ import annotations


def ensure_mmseg_scope() -> None:
    """Make ``mmseg`` the default registry scope when none is set (building pipelines outside a Runner)."""
    from mmengine.registry import DefaultScope, init_default_scope

    if DefaultScope.get_current_instance() is None:
        init_default_scope("mmseg")


def import_plugin() -> None:
    """Import the plugin (every registration, the run-checkpoint loader) and make ``mmseg`` the default scope."""
    import mmseg_plugin  # noqa: F401
    import mmseg_plugin.hooks  # noqa: F401
    import mmseg_plugin.models  # noqa: F401

    ensure_mmseg_scope()
