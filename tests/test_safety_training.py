"""Run folders survive a second process, a damaged checkpoint, Ctrl-C, divergence and collapse."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from helpers.cli import main
from helpers.errors import CheckpointError, RunLocked, TrainingDiverged
from helpers.train.checkpoint import atomic_save, load_checkpoint
from helpers.train.loop import Trainer

ROOT = Path(__file__).resolve().parents[1]


def _trainer(run_dir, total, every=3, stall=None):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return Trainer(run_dir, total, {"model": model}, {"opt": opt}, torch.Generator().manual_seed(0),
                   checkpoint_every=every, sample_every=100, config={"lr": 0.1}, progress=False, stall=stall), model, opt


def _fit(run_dir, total, every=3, metric=lambda i, loss: {"loss": loss}):
    trainer, model, opt = _trainer(run_dir, total, every)
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))

    def step(i):
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return metric(i, loss.item())

    return trainer.run(step), model


# -- one process per run folder ---------------------------------------------------------

HOLDER = """
import sys, time
from helpers.train.lock import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def _hold_lock(folder):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_second_process_is_refused_with_the_holder_named(tmp_path):
    holder = _hold_lock(tmp_path / "run")
    try:
        with pytest.raises(RunLocked, match=rf"process {holder.pid} on .* right now"):
            _fit(tmp_path / "run", 4)
        assert not (tmp_path / "run" / "checkpoint.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    h, _ = _fit(tmp_path / "run", 4)  # the lock of a process that is gone is free again
    assert list(h.frame["step"]) == [1, 2, 3, 4]


def test_gan_command_refused_while_another_trains_the_same_folder(smoke_cfg, capsys):
    from helpers.gan.pipeline import run_dirs

    folder = run_dirs("dcgan", smoke_cfg, classes=["normal"])["normal"]
    holder = _hold_lock(folder)
    try:
        rc = main(["train", "dcgan", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
                   str(smoke_cfg.runs_dir), "--steps", "4"])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert rc == 2 and f"process {holder.pid}" in err and "Traceback" not in err


def test_two_real_trainings_at_once_never_corrupt_the_folder(smoke_cfg):
    cmd = [sys.executable, "-m", "helpers", "train", "dcgan", "--profile", "smoke", "--data-dir",
           str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "150"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    from helpers.prepare import load_prepared

    load_prepared(smoke_cfg, progress=False, verbose=False)  # both start from the same prepared table
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    for (_, err), rc in zip(outs, codes):
        assert "Traceback" not in err, err
        assert rc == 0 or (rc == 2 and "right now" in err), err
    assert 0 in codes
    for cls in ("normal", "malignant"):
        h = pd.read_csv(smoke_cfg.runs_dir / "generators" / "dcgan" / cls / "history.csv")
        assert list(h["step"]) == list(range(1, 151))  # every step once
    leftovers = [p.name for p in smoke_cfg.runs_dir.rglob("*.part")]
    assert not leftovers


def test_temporary_files_have_unique_names(tmp_path):
    """Two writers of one checkpoint path never rename each other's temporary file."""
    errors = []

    def writer(k):
        try:
            for i in range(30):
                atomic_save({"step": i, "who": k, "w": torch.randn(200)}, tmp_path / "checkpoint.pt")
        except Exception as e:  # pragma: no cover - what the test looks for
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    ck, _ = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["step"] == 29
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "checkpoint.pt.prev"]


# -- damaged checkpoints ----------------------------------------------------------------

def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    ref, m_ref = _fit(tmp_path / "ref", 9)
    _fit(tmp_path / "run", 6)  # checkpoints at 3 and 6: checkpoint.pt (6) and .prev (3)
    ck = tmp_path / "run" / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])  # cut short, e.g. a full disk
    h, m = _fit(tmp_path / "run", 9)
    assert "going on from the previous checkpoint, checkpoint.pt.prev (step 3)" in capsys.readouterr().out
    assert h.resumed_from == 3 and list(h.frame["step"]) == list(range(1, 10))
    assert torch.equal(m.weight, m_ref.weight)  # the same weights as a run never damaged


@pytest.mark.parametrize("damage", ["empty", "truncated", "not a checkpoint"])
def test_unreadable_checkpoint_without_a_previous_one_names_the_file(tmp_path, damage):
    _fit(tmp_path / "run", 3)
    ck = tmp_path / "run" / "checkpoint.pt"
    (tmp_path / "run" / "checkpoint.pt.prev").unlink(missing_ok=True)
    data = {"empty": b"", "truncated": ck.read_bytes()[:100], "not a checkpoint": b"<html>oops</html>"}[damage]
    ck.write_bytes(data)
    with pytest.raises(CheckpointError, match=rf"{ck}.*(empty|cannot be read).*Delete {ck}"):
        _fit(tmp_path / "run", 6)


def test_damaged_generator_checkpoint_is_one_line_from_the_command(smoke_cfg, capsys):
    base = ["train", "wgan", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
            str(smoke_cfg.runs_dir), "--steps", "3"]
    assert main(base) == 0
    ck = smoke_cfg.runs_dir / "generators" / "wgan" / "benign" / "checkpoint.pt"
    ck.write_bytes(b"")
    (ck.parent / "checkpoint.pt.prev").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"error: The checkpoint {ck} is empty" in err and "Traceback" not in err
    from helpers.gan.core import load_generator

    with pytest.raises(CheckpointError, match=str(ck)):
        load_generator(ck.parent)


# -- divergence and collapse ------------------------------------------------------------

def test_divergence_names_the_checkpoint_that_exists(tmp_path):
    nan_at = lambda k: lambda i, loss: {"loss": math.nan if i == k else loss}  # noqa: E731
    with pytest.raises(TrainingDiverged, match=r"at step 2\..*No checkpoint was written yet") as e:
        _fit(tmp_path / "a", 10, metric=nan_at(2))
    assert "checkpoint.pt" not in str(e.value)
    with pytest.raises(TrainingDiverged, match=r"at step 7\..*checkpoint \(.*checkpoint\.pt\) is from step 6"):
        _fit(tmp_path / "b", 10, metric=nan_at(7))


def test_a_generator_without_gradient_is_flagged_as_collapsed(tmp_path):
    trainer, _, _ = _trainer(tmp_path, 50, stall={"grad_norm_g": "the generator receives no gradient"})
    with pytest.raises(TrainingDiverged, match=r"collapsed: 'grad_norm_g' has been exactly 0 for 10 steps .*"
                                               r"\(steps 4-13\)"):
        trainer.run(lambda i: {"grad_norm_g": 1.0 if i < 4 else 0.0})
    trainer, _, _ = _trainer(tmp_path / "ok", 50, stall={"grad_norm_g": "..."})
    trainer.run(lambda i: {"grad_norm_g": 0.0 if i % 5 else 1.0})  # zeros that do not last are fine


def test_dcgan_at_an_absurd_learning_rate_exits_with_an_error(smoke_cfg, capsys):
    rc = main(["train", "dcgan", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
               str(smoke_cfg.runs_dir), "--steps", "60", "--set", "lr_g=10", "--set", "lr_d=10"])
    err = capsys.readouterr().err
    assert rc == 2 and "collapsed" in err and "Traceback" not in err
    assert not (smoke_cfg.runs_dir / "synthetic" / "dcgan").exists()  # no useless images exported


# -- Ctrl-C -----------------------------------------------------------------------------

def test_ctrl_c_says_where_it_stopped_and_the_rerun_resumes(smoke_cfg):
    cmd = [sys.executable, "-m", "helpers", "train", "wgan-gp", "--profile", "smoke", "--data-dir",
           str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "100000"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    from helpers.prepare import load_prepared

    load_prepared(smoke_cfg, progress=False, verbose=False)
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ck = smoke_cfg.runs_dir / "generators" / "wgan-gp" / "benign" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline:
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted at step" in err and "run the same command to resume" in err
    saved = torch.load(ck, weights_only=True)["step"]
    rerun = cmd[:-1] + [str(saved + 3)]  # the same command (a shorter budget, to keep the test short)
    done = subprocess.run(rerun, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    h = pd.read_csv(ck.parent / "history.csv")
    assert list(h["step"]) == list(range(1, saved + 4))  # resumed: no step lost or logged twice
    assert torch.load(ck, weights_only=True)["step"] == saved + 3
