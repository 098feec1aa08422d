"""The declared dependency pins agree with the plugin's import-time version window."""

import ast
import os

from packaging.requirements import Requirement
from packaging.version import Version

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_extras():
    tree = ast.parse(open(os.path.join(REPO, "setup.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXTRAS":
            return ast.literal_eval(node.value)
    raise AssertionError("EXTRAS not found in setup.py")


def _plugin_windows():
    tree = ast.parse(open(os.path.join(REPO, "mmseg_plugin", "__init__.py")).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) or isinstance(node, ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if getattr(target, "id", None) == "_WINDOWS":
                return ast.literal_eval(node.value)
    raise AssertionError("_WINDOWS not found")


def test_mmseg_extra_pins_inside_plugin_window():
    reqs = {Requirement(r).name: Requirement(r) for r in _setup_extras()["mmseg"]}
    dist_of = {"mmengine": "mmengine", "mmcv": "mmcv", "mmseg": "mmsegmentation"}
    for module, (lo, hi) in _plugin_windows().items():
        req = reqs[dist_of[module]]
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        assert pinned, f"{req} should be pinned"
        assert Version(lo) <= Version(pinned[0]) < Version(hi), (module, pinned, lo, hi)


def test_core_requirements_exclude_openmmlab():
    tree = ast.parse(open(os.path.join(REPO, "setup.py")).read())
    core = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CORE":
            core = ast.literal_eval(node.value)
    assert core is not None
    names = {Requirement(r).name for r in core}
    assert not names & {"mmengine", "mmcv", "mmsegmentation", "openmim"}
    assert "torch" in names


def test_configs_shipped_inside_plugin_package():
    link = os.path.join(REPO, "mmseg_plugin", ".mim", "configs")
    assert os.path.isdir(link)
    assert os.path.realpath(link) == os.path.realpath(os.path.join(REPO, "configs"))
