"""Package-level properties: the layers never need the OpenMMLab stack, and the info report works."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = ("mmengine", "mmcv", "mmseg", "mmseg_plugin")
    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None
    sys.meta_path.insert(0, Blocker())
    """
)


def _run(code: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_every_layers_module_imports_without_openmmlab():
    proc = _run(
        """
        import importlib, pkgutil, ddeseg_layers
        names = [m.name for m in pkgutil.walk_packages(ddeseg_layers.__path__, "ddeseg_layers.")]
        assert len(names) > 5, names
        for name in names:
            importlib.import_module(name)
        for name in ddeseg_layers.__all__:
            getattr(ddeseg_layers, name)
        assert not any(m.split(".")[0] in ("mmengine", "mmcv", "mmseg") for m in sys.modules)
        print("imported", len(names))
        """
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "imported" in proc.stdout


def test_blocker_really_blocks():
    """Guard for the test above: the blocker must make an OpenMMLab import fail."""
    proc = _run("import mmengine\n")
    assert proc.returncode != 0
    assert "blocked for this test" in proc.stderr


@pytest.mark.parametrize("blocked", [True, False])
def test_info_report(blocked):
    code = "from ddeseg_layers.info import main; main(['--json'])\n"
    if blocked:
        proc = _run(code)
    else:
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    info = json.loads(proc.stdout)
    assert info["torch"]
    assert {"op", "backend", "available", "reasons"} <= set(info["ops"][0])
    for row in info["ops"]:
        # an unavailable backend always says why
        assert row["available"] or row["reasons"], row
    backends = {(r["op"], r["backend"]) for r in info["ops"]}
    assert ("edge_aggregate", "torch") in backends
    torch_row = next(r for r in info["ops"] if r["backend"] == "torch")
    assert torch_row["available"]


def test_info_text_mentions_every_op_backend():
    proc = subprocess.run(
        [sys.executable, "-m", "ddeseg_layers.info"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "fused ops:" in proc.stdout
    assert "edge_aggregate" in proc.stdout
