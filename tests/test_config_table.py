"""docs/configs.md's config table is true: every leaf config builds its network (full-size ones on the meta device,
the synthetic ones on CPU) with the trainable parameter count the table states, and the table's other columns
(network variant, audio encoder, memory, batch, lr, selection metric) are read from the config itself."""

import functools
import glob
import os
import re

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEAVES = sorted(
    os.path.relpath(p, os.path.join(REPO, "configs"))
    for p in glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)
    if "_base_" not in p
)
_AUDIO_DIMS = {"htsat": 768, "vggish": 128}


def _cfg(leaf):
    from mmengine.config import Config

    return Config.fromfile(os.path.join(REPO, "configs", leaf))


@functools.cache
def _built(leaf: str) -> tuple:
    """(trainable count, memory shape) of a leaf (built once per session)."""
    model = build_network(_cfg(leaf))
    mem = model.memory
    return sum(p.numel() for p in model.parameters() if p.requires_grad), (mem.num_classes, mem.num_reps, mem.dim)


def build_network(cfg):
    """The DDESeg of a config, pretrained files not read. A frozen full-size audio encoder (no trainable parameter)
    is replaced by a precomputed-feature stand-in of its width, so the rest builds on the meta device."""
    from ddeseg_layers.model import build_ddeseg
    from mmseg_plugin.config_utils import plain

    net = plain(cfg.model.net)
    net.pop("pretrained", None)
    audio = dict(net["audio"], checkpoint=None)
    if audio.get("size") == "tiny" or audio["type"] not in _AUDIO_DIMS:
        net["audio"], device = audio, "cpu"  # CPU-sized encoders (synthetic configs) build for real
    else:
        assert audio.get("frozen", True), "a fine-tuned full-size encoder would need its own count"
        net["audio"], device = dict(type="precomputed", dim=_AUDIO_DIMS[audio["type"]]), "meta"
    with torch.device(device):
        return build_ddeseg(net)


def row_facts(leaf: str) -> dict:
    """The table's columns other than the count and the paper target, from the config and its network."""
    cfg = _cfg(leaf)
    net = cfg.model.net
    audio = net.audio
    if (net.get("pretrained") or {}).get("memory"):
        memory = f"released bank `{os.path.basename(net.pretrained.memory)}`"
    else:
        memory = " x ".join(str(n) for n in _built(leaf)[1])
    audio_txt = audio.type + (f" {audio.size}" if audio.get("size") else "")
    if audio.get("checkpoint"):
        audio_txt += f" `{os.path.basename(audio.checkpoint)}`"
    from mmseg_plugin.recipe import stage1_enabled

    on, _ = stage1_enabled(cfg)
    audio_txt += ", stage 1 on" if on else ""
    opt = cfg.optim_wrapper.optimizer
    scale = cfg.get("auto_scale_lr", None) or {}
    lr = f"{opt.lr:g}" + (f" @ {scale['base_batch_size']} (auto-scaled)" if scale.get("enable") else "")
    evaluator = cfg.get("val_evaluator", None) or cfg.get("test_evaluator", None)
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0]
    best = cfg.default_hooks.checkpoint.get("save_best")
    selection = f"val {best} ({evaluator.mode})" if best and cfg.get("val_dataloader", None) else "last checkpoint"
    return dict(
        network=net.get("variant", "paper"),
        audio=audio_txt,
        memory=memory,
        batch=str(cfg.train_dataloader.batch_size),
        lr=lr,
        selection=selection,
    )


def _table() -> dict:
    text = open(os.path.join(REPO, "docs", "configs.md")).read()
    block = text.split("<!-- config-table -->")[1]
    rows = {}
    for line in block.splitlines():
        m = re.match(r"^\| `([^`]+)` \|(.*)\|\s*$", line)
        if m:
            cells = [c.strip() for c in m.group(2).split("|")]
            rows[m.group(1)] = cells
    return rows


def test_every_leaf_is_in_the_table():
    assert sorted(_table()) == LEAVES


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaf_builds_with_the_documented_trainable_count(leaf):
    cells = _table()[leaf]
    network, count, audio, memory, batch, lr, selection = cells[:7]
    assert int(count.replace(",", "")) == _built(leaf)[0], f"{leaf}: docs/configs.md says {count}"
    facts = row_facts(leaf)
    assert [network, audio, memory, batch, lr, selection] == [
        facts[k] for k in ("network", "audio", "memory", "batch", "lr", "selection")
    ]


def test_headline_configs_build_the_paper_sized_network():
    """Table 2's 103.84 M: the released network (VPO, 22 classes: exactly 103.84 M; AVSS, 71 classes: 103.88 M)."""
    assert f"{_built('ddeseg_vpo_ss.py')[0] / 1e6:.2f}" == "103.84"
    assert f"{_built('ddeseg_avss.py')[0] / 1e6:.2f}" == "103.88"
    assert f"{_built('fig4/ddeseg_avss_fig4.py')[0] / 1e6:.2f}" == "121.24"


def render_table() -> str:
    """The table rows as docs/configs.md holds them, minus the paper column (run this file as a script)."""
    lines = []
    for leaf in LEAVES:
        f = row_facts(leaf)
        n = _built(leaf)[0]
        lines.append(
            f"| `{leaf}` | {f['network']} | {n:,} | {f['audio']} | {f['memory']} | {f['batch']} | {f['lr']} | "
            f"{f['selection']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
