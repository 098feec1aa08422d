"""mmseg_plugin: registers DDESeg's datasets, transforms, data preprocessor, segmentor, losses and metrics
with MMSegmentation 1.x. Depends on ddeseg_layers, never the reverse.

Import-time version-window check (as mmpretrain does) so an incompatible stack fails with an actionable
message instead of a confusing error deep inside mmcv or mmseg.
"""

from __future__ import annotations

from packaging.version import Version

from ddeseg_layers.version import __version__

_WINDOWS = {
    # package: (minimum inclusive, maximum exclusive)
    "mmengine": ("0.10.0", "1.0.0"),
    "mmcv": ("2.0.0rc4", "2.2.0"),
    "mmseg": ("1.2.0", "1.3.0"),
}
_INSTALL_HINT = (
    "Install the supported stack with `bash tools/setup_env.sh --extras mmseg,dev` (docs/getting_started.md)."
)


def _check_versions() -> None:
    import importlib

    for name, (lo, hi) in _WINDOWS.items():
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError(
                f"mmseg_plugin needs {name} (>= {lo}, < {hi}) but it is not importable ({exc}). {_INSTALL_HINT}"
            ) from exc
        have = Version(mod.__version__)
        if not (Version(lo) <= have < Version(hi)):
            raise AssertionError(
                f"mmseg_plugin {__version__} needs {lo} <= {name} < {hi}, found {name} {mod.__version__}. "
                f"{_INSTALL_HINT}"
            )


_check_versions()

from . import registry  # noqa: E402,F401  (imports every registering submodule)

__all__ = ["__version__"]
