"""Two-process CPU training with torchrun (gloo) on a tiny synthetic set through tools/train.py (~40 s on 2 cores)."""

import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tp", os.path.join(REPO, "tests", "mmseg_plugin", "test_pipeline.py"))
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    cfg = tp.tiny_synthetic_config(tmp_path)
    mem = str(tmp_path / "mem.pth")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    # build the data and the memory once, in one process
    subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "build_semantic_memory.py"), cfg, "--out", mem, "--no-progress"],
        check=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    work = str(tmp_path / "dist")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
        os.path.join(REPO, "tools", "train.py"),
        cfg,
        "--launcher",
        "pytorch",
        "--work-dir",
        work,
        "--max-iters",
        "3",
        "--cfg-options",
        f"model.semantic_memory_path={mem}",
    ]
    res = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    logs = [os.path.join(work, d, f"{d}.log") for d in os.listdir(work) if os.path.isdir(os.path.join(work, d))]
    text = "".join(open(p).read() for p in logs if os.path.isfile(p))
    assert "Distributed training: True" in text and "GPU number: 2" in text  # mmengine's world-size line
    assert os.path.isfile(os.path.join(work, "iter_3.pth"))
