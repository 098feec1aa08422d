"""Import every submodule that registers something with MMSegmentation's registries.

Submodules are listed explicitly; a missing one is an error (no silent allow-failed imports).
"""
import importlib

_MODULES: list = [
    # filled in as the plugin lands: "mmseg_plugin.datasets", "mmseg_plugin.models", "mmseg_plugin.evaluation"
]

for _m in _MODULES:
    importlib.import_module(_m)
