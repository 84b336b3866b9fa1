"""Interrupts and deaths end the whole grid within seconds: one Ctrl-C, two, or the main process
killed (as an out-of-memory kill does) leave no process of the grid behind, and no queued run
starts after the signal; Ray gives up on a cluster it cannot reach with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GONE_AFTER = 10  # seconds: every process of the grid has ended by then


def _session(sid: int) -> list[int]:
    """The processes of session `sid` (the grid's main process leads it; its workers and the
    resource tracker stay in it even when the main process is gone)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
                pids.append(int(d.name))
    return pids


def _gone(sid: int, within: float) -> list[int]:
    deadline = time.time() + within
    while (left := _session(sid)) and time.time() < deadline:
        time.sleep(0.2)
    return left


def _busy_grid(cfg, log):
    """`classify --workers 2` on runs that never finish on their own, once both workers train."""
    from helpers.prepare import load_prepared

    load_prepared(cfg, progress=False, verbose=False)
    cmd = [sys.executable, "-m", "helpers", "classify", "--profile", "smoke", "--generators", "none",
           "--workers", "2", "--seeds", "0,1", "--epochs", "100000", "--data-dir", str(cfg.data_dir),
           "--runs-dir", str(cfg.runs_dir)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    runs = cfg.runs_dir / "classify" / "runs"
    deadline = time.time() + 240
    while len(list(runs.glob("*/history.csv"))) < 2 and p.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert p.poll() is None, Path(log.name).read_text()
    return p, sorted(d.name for d in runs.iterdir())


@pytest.mark.parametrize("how", ["ctrl-c", "sigint-main", "ctrl-c-twice", "sigkill-main"])
def test_signals_end_the_whole_grid(smoke_cfg, tmp_path, how):
    with open(tmp_path / "log.txt", "w") as log:
        p, started = _busy_grid(smoke_cfg, log)
        try:
            if how == "sigint-main":
                p.send_signal(signal.SIGINT)
            elif how == "sigkill-main":
                p.kill()
            else:  # Ctrl-C in a terminal signals the whole foreground group
                os.killpg(p.pid, signal.SIGINT)
                if how == "ctrl-c-twice":
                    time.sleep(0.5)
                    os.killpg(p.pid, signal.SIGINT)
            left = _gone(p.pid, GONE_AFTER)
        finally:
            for pid in _session(p.pid):
                os.kill(pid, signal.SIGKILL)
            p.wait(30)
    out = (tmp_path / "log.txt").read_text()
    assert not left, f"still running {GONE_AFTER} s after the signal: {left}\n{out}"
    runs = smoke_cfg.runs_dir / "classify" / "runs"
    assert sorted(d.name for d in runs.iterdir()) == started  # no queued run started
    if how != "sigkill-main":
        assert p.returncode == 130, out
        assert "Traceback" not in out, out
        last = out.strip().splitlines()[-1]
        assert "0 of 4 runs finished" in last and "run the same command" in last, out


def test_ray_gives_up_on_an_unreachable_cluster_in_one_line(smoke_cfg):
    pytest.importorskip("ray")
    from helpers.prepare import load_prepared

    load_prepared(smoke_cfg, progress=False, verbose=False)
    cmd = [sys.executable, "-m", "helpers", "classify", "--profile", "smoke", "--generators", "none",
           "--executor", "ray", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1", RAY_ADDRESS="127.0.0.1:1")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.1:1" in errors[0], done.stderr
