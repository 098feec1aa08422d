"""Crash safety of training: atomic checkpoints, exact resume, the iteration log, and the non-finite guard.

The slow test kills a real tools/train.py run with SIGKILL at random moments (and once in the middle of writing a
checkpoint), resumes it each time, and checks that the final weights and the per-iteration losses equal those of an
uninterrupted run with the same seed, and that the iteration log has no gap and no repeat.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------------------------------- unit tests
def test_atomic_save_leaves_old_file_when_the_writer_dies(tmp_path):
    from mmseg_plugin.hooks.atomic_checkpoint_hook import PART_SUFFIX, atomic_save_checkpoint, remove_partial_files

    out = str(tmp_path)
    atomic_save_checkpoint(lambda d, name: torch.save({"w": torch.ones(3)}, os.path.join(d, name)), out, "iter_2.pth")
    assert torch.load(os.path.join(out, "iter_2.pth"))["w"].sum() == 3

    class Killed(Exception):
        pass

    def dying_save(d, name):  # writes half a file, then the process "dies"
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise Killed

    with pytest.raises(Killed):
        atomic_save_checkpoint(dying_save, out, "iter_2.pth")  # overwrite attempt of an existing name
    assert torch.load(os.path.join(out, "iter_2.pth"))["w"].sum() == 3  # the complete old file is untouched
    with pytest.raises(Killed):
        atomic_save_checkpoint(dying_save, out, "iter_4.pth")
    assert not os.path.exists(os.path.join(out, "iter_4.pth"))  # never a truncated file under the final name
    leftovers = remove_partial_files(out)
    assert len(leftovers) == 2 and all(PART_SUFFIX in p for p in leftovers)
    assert sorted(os.listdir(out)) == ["iter_2.pth"]


def test_atomic_write_text_replaces_whole(tmp_path):
    from mmseg_plugin.hooks.atomic_checkpoint_hook import atomic_write_text

    p = str(tmp_path / "last_checkpoint")
    atomic_write_text(p, "/a/iter_2.pth")
    atomic_write_text(p, "/a/iter_4.pth")
    assert open(p).read() == "/a/iter_4.pth" and os.listdir(tmp_path) == ["last_checkpoint"]


def test_iteration_seed_is_a_function_of_seed_rank_iteration():
    from mmseg_plugin.engine import iteration_seed, seed_everything

    assert iteration_seed(0, 0, 5) == iteration_seed(0, 0, 5)
    seeds = {iteration_seed(s, r, i) for s in (0, 1) for r in (0, 1) for i in range(50)}
    assert len(seeds) == 200  # distinct across seeds, ranks and iterations
    seed_everything(iteration_seed(3, 0, 7))
    a = (torch.rand(3), random.random())
    torch.rand(10)  # history in between does not matter
    seed_everything(iteration_seed(3, 0, 7))
    b = (torch.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_read_iteration_log_skips_a_half_written_line(tmp_path):
    from mmseg_plugin.hooks import read_iteration_log

    p = tmp_path / "log.jsonl"
    p.write_text('{"iter": 1, "loss": 0.5}\n{"iter": 2, "loss": 0.4}\n{"iter": 3, "lo')
    assert [r["iter"] for r in read_iteration_log(str(p))] == [1, 2]


class _FakeRunner:
    def __init__(self, model, optim_wrapper):
        self.model, self.optim_wrapper = model, optim_wrapper
        self.iter = 0

        class _Log:
            def info(self, *a):
                pass

        self.logger = _Log()


class _SqrtModel(nn.Module):
    """loss = sqrt(w * x): finite (0) at w = 0 while d loss / d w is inf there."""

    def __init__(self, w0: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([w0]))
        self.b = nn.Parameter(torch.tensor([0.5]))

    def forward(self, x, mode="loss"):
        return {"loss_sqrt": torch.sqrt(self.w * x).sum() + self.b.sum() ** 2}


def test_guard_stops_before_the_step_on_an_infinite_gradient():
    from mmseg_plugin.hooks import NonFiniteGuardHook, NonFiniteTrainingError

    model = _SqrtModel(0.0)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = NonFiniteGuardHook()
    runner = _FakeRunner(model, SimpleNamespace(optimizer=opt))  # an OptimWrapper's optimizer
    hook.before_train(runner)
    runner.iter = 6
    batch = {"data_samples": [type("S", (), {"metainfo": {"clip_id": "clipA", "frame_index": 2}})()]}
    hook.before_train_iter(runner, 6, batch)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loss = model(torch.ones(1))["loss_sqrt"]
    assert torch.isfinite(loss)
    with pytest.raises(NonFiniteTrainingError, match=r"gradient of w .*iteration 7 \(batch of 1: clipA/2\)"):
        loss.backward()
        opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # never stepped
    hook.after_train(runner)
    model.zero_grad()
    model(torch.ones(1))["loss_sqrt"].backward()
    opt.step()  # hooks removed: no error any more


def test_guard_stops_on_a_nan_loss_before_backward():
    from mmseg_plugin.hooks import NonFiniteGuardHook, NonFiniteTrainingError

    model = _SqrtModel(1.0)
    model.train()
    hook = NonFiniteGuardHook()
    runner = _FakeRunner(model, SimpleNamespace(optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    hook.before_train(runner)
    hook.before_train_iter(runner, 0, {"data_samples": []})
    with pytest.raises(NonFiniteTrainingError, match=r"loss term 'loss_sqrt' = \[nan\] at iteration 1"):
        model(torch.tensor([float("nan")]))
    model.eval()
    model(torch.tensor([float("nan")]))  # eval / predict outputs are not checked
    hook.after_train(runner)


# ---------------------------------------------------------------------------------------------------- end to end
_KILLER = textwrap.dedent(
    """
    # Imported by the run under test (custom_imports): SIGKILLs this process in the middle of writing the N-th .pth
    # file (half of its bytes written), as a kill during a checkpoint write would.
    import os, signal
    from mmengine.fileio import LocalBackend

    _n = int(os.environ.get("KILL_DURING_PTH_WRITE", "0"))
    _count = [0]
    _put = LocalBackend.put

    def put(self, obj, filepath):
        if _n and (str(filepath).endswith(".pth") or ".pth.part-" in str(filepath)):
            _count[0] += 1
            if _count[0] == _n:
                with open(filepath, "wb") as f:
                    f.write(obj[: len(obj) // 2])
                    f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return _put(self, obj, filepath)

    LocalBackend.put = put
    """
)


def _train_cmd(cfg, work, mem, resume):
    cmd = [sys.executable, os.path.join(REPO, "tools", "train.py"), cfg, "--work-dir", work, "--max-iters", "16"]
    cmd += ["--cfg-options", f"model.semantic_memory_path={mem}"]
    return cmd + (["--resume"] if resume else [])


def _log_lines(path):
    try:
        with open(path) as f:
            return sum(1 for line in f if line.endswith("\n"))
    except FileNotFoundError:
        return 0


def _inode(path):
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _kill_after_progress(p, log, rng, timeout=300.0):
    """SIGKILL ``p`` once it has logged 1-4 more iterations, after a further random 0-0.4 s (if still alive).

    The process rewrites the log (temporary file + rename: a new inode) when it starts training; count from there.
    """
    old, start, want = _inode(log), None, rng.randint(1, 4)
    t_end = time.time() + timeout
    while p.poll() is None and time.time() < t_end:
        if start is None and _inode(log) not in (None, old):
            start = _log_lines(log)
        if start is not None and _log_lines(log) >= start + want:
            time.sleep(rng.uniform(0.0, 0.4))
            p.send_signal(signal.SIGKILL)
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_exactly(tmp_path, tiny_synthetic_config):
    from mmseg_plugin.hooks import read_iteration_log

    base = tiny_synthetic_config(tmp_path)
    (tmp_path / "killer.py").write_text(_KILLER)
    cfg = str(tmp_path / "tiny_killable.py")  # custom_imports are imported when the config file is read
    with open(cfg, "w") as f:
        f.write(
            f"_base_ = [{base!r}]\n"
            "custom_imports = dict(imports=['mmseg_plugin', 'killer'], allow_failed_imports=False)\n"
        )
    mem = str(tmp_path / "mem.pth")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([REPO, str(tmp_path)]))
    subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "build_semantic_memory.py"), cfg, "--out", mem, "--no-progress"],
        check=True, env=env, cwd=str(tmp_path), timeout=300, capture_output=True,
    )  # fmt: skip
    ref_dir = str(tmp_path / "ref")
    subprocess.run(_train_cmd(cfg, ref_dir, mem, False), check=True, env=env, cwd=str(tmp_path), timeout=600,
                   capture_output=True)  # fmt: skip

    work = str(tmp_path / "killed")
    rng = random.Random(int(os.environ.get("DDESEG_KILL_SEED", "0")))
    # the first attempt dies while writing its second checkpoint file; later ones at random moments
    kills, attempts = 0, 0
    while True:
        attempts += 1
        assert attempts <= 12, "the run never finished"
        e = dict(env, KILL_DURING_PTH_WRITE="2" if attempts == 1 else "0")
        p = subprocess.Popen(_train_cmd(cfg, work, mem, attempts > 1), env=e, cwd=str(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        if attempts in (2, 3, 4):  # killed at a random moment during training: after 1-4 more iterations + 0-0.4 s
            _kill_after_progress(p, os.path.join(work, "train_iterations.jsonl"), rng)
        _, err = p.communicate(timeout=600)
        if p.returncode == -signal.SIGKILL:
            kills += 1
            assert not [f for f in os.listdir(work) if f.endswith(".pth")] or all(
                os.path.getsize(os.path.join(work, f)) > 0 for f in os.listdir(work) if f.endswith(".pth")
            )
            continue
        assert p.returncode == 0, err[-3000:]
        break
    assert kills >= 2  # at least the mid-write kill and one random kill happened
    assert not [f for f in os.listdir(work) if ".part-" in f]

    ref = torch.load(os.path.join(ref_dir, "iter_16.pth"), map_location="cpu", weights_only=False)["state_dict"]
    got = torch.load(os.path.join(work, "iter_16.pth"), map_location="cpu", weights_only=False)["state_dict"]
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)
    log_ref = read_iteration_log(os.path.join(ref_dir, "train_iterations.jsonl"))
    log = read_iteration_log(os.path.join(work, "train_iterations.jsonl"))
    assert [r["iter"] for r in log] == list(range(1, 17))  # no gap, no repeat
    assert [r["clips"] for r in log] == [r["clips"] for r in log_ref]  # the same batches in the same order
    for a, b in zip(log, log_ref):
        assert abs(a["loss"] - b["loss"]) <= 1e-5 * max(1.0, abs(b["loss"])), (a, b)
