"""Shared helpers of the plugin's end-to-end tests: the tools as modules, and a tiny synthetic-set config."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_tool(name):
    """``tools/<name>.py`` as a module (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(REPO, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_synthetic_config(tmp_path, **sizes) -> str:
    """A leaf on configs/ddeseg_synthetic.py with a tiny generated set under tmp_path (absolute _base_).

    ``sizes``: ``train`` / ``test`` clip counts (default 6 / 2); 3 classes + background, 32 x 32 frames.
    """
    gen = dict(num_classes=3, image_size=32, num_train=sizes.get("train", 6), num_val=2, num_test=sizes.get("test", 2))
    root = str(tmp_path / "data")
    text = f"""_base_ = [{os.path.join(REPO, "configs", "ddeseg_synthetic.py")!r}]
data_root = {root!r}
train_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root, generator={gen!r}))
val_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root, generator={gen!r}))
test_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root, generator={gen!r}))
model = dict(net=dict(derivation=dict(num_neighbors=2), audio=dict(checkpoint=None)))
audio_classifier = dict(batch_size=4)
memory_builder = dict(chunk_size=8, batch_size=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""
    path = tmp_path / "tiny_synthetic.py"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="session")
def tool():
    return _load_tool


@pytest.fixture(scope="session")
def tiny_synthetic_config():
    return _tiny_synthetic_config
