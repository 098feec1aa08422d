"""Loads tests/mmseg_plugin/fixtures.py (layout writers) as the `fx` fixture."""

import importlib.util
import pathlib
import sys

import pytest

_PATH = pathlib.Path(__file__).parents[1] / "fixtures.py"


def _load():
    name = "avs_layout_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _PATH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fx():
    return _load()


@pytest.fixture(autouse=True, scope="session")
def _mmseg_default_scope():
    """Pipelines built outside a Runner resolve transform names in mmseg's registry (as the runner's default_scope)."""
    from mmengine.registry import init_default_scope

    init_default_scope("mmseg")
