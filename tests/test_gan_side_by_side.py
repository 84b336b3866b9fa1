"""Class models trained side by side in threads (helpers.gan.pipeline.train_side_by_side)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pandas as pd
import pytest
import torch

from helpers.gan import pipeline
from helpers.train.loop import STOP, load_checkpoint


def _weights(run_dir):
    ck, _ = load_checkpoint(run_dir / "checkpoint.pt")
    return {f"{m}.{k}": v for m, sd in ck["modules"].items() for k, v in sd.items()}


def test_two_class_models_at_once_equal_one_after_another(smoke_cfg, monkeypatch):
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the threads use one math thread each; compare like with like
    try:
        monkeypatch.setattr(pipeline, "CLASS_WORKERS", 1)
        one = pipeline.train("wgan-gp", smoke_cfg, train, out_name="one", steps=4, progress=False)
        monkeypatch.setattr(pipeline, "CLASS_WORKERS", 2)
        two = pipeline.train("wgan-gp", smoke_cfg, train, out_name="two", steps=4, progress=False)
        # all three at once (more threads than a 2-core machine has cores)
        monkeypatch.setattr(pipeline, "CLASS_WORKERS", 3)
        three = pipeline.train("wgan-gp", smoke_cfg, train, out_name="three", steps=4, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    assert set(one) == set(two) == set(three) == {"benign", "normal", "malignant"}
    for cls in one:
        a = _weights(smoke_cfg.runs_dir / "generators" / "one" / cls)
        for other, hist in (("two", two), ("three", three)):
            pd.testing.assert_frame_equal(one[cls].frame, hist[cls].frame)
            b = _weights(smoke_cfg.runs_dir / "generators" / other / cls)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_failing_model_stops_the_others_and_its_error_is_raised():
    from helpers.errors import Interrupted

    seen = {}

    def fake_train(key, fail):
        if fail:
            raise ValueError(f"{key} diverged")
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 20:  # a Trainer checks STOP before every step
            if STOP.is_set():
                seen[key] = threading.current_thread().name
                raise Interrupted(f"{key}: interrupted")  # as the Trainer words a stop
            time.sleep(0.01)
        return key

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="b diverged"):
        pipeline.train_side_by_side(fake_train, {"a": dict(key="a", fail=False), "b": dict(key="b", fail=True)}, 2)
    assert time.perf_counter() - t0 < 10 and "a" in seen
    assert not STOP.is_set()  # cleared for the next run
    assert pipeline.train_side_by_side(lambda key: key * 2, {"x": dict(key="x"), "y": dict(key="y")}, 2) == \
        {"x": "xx", "y": "yy"}


CTRL_C = """
import os, signal, threading, time
from helpers.errors import Interrupted
from helpers.gan import pipeline
from helpers.train.loop import STOP

def fake_train(key):  # what Trainer._run does at each step, then words it as Interrupted
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 20:
        if STOP.is_set():
            raise Interrupted(f"{key}: interrupted at step 3 of 100; run the same command to resume.")
        time.sleep(0.01)
    return key

before = signal.getsignal(signal.SIGINT)  # Python's, or SIG_IGN when started with SIGINT ignored
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()  # Ctrl-C
t0 = time.perf_counter()
try:
    pipeline.train_side_by_side(fake_train, {k: dict(key=k) for k in "abc"}, 2)
except Interrupted as e:
    print("INTERRUPTED|", e, "|", round(time.perf_counter() - t0, 1), "|", STOP.is_set(),
          "|", signal.getsignal(signal.SIGINT) is before)  # the handler is given back
"""


def test_ctrl_c_stops_every_model_and_reports_the_interruption():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", CTRL_C], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in out.stderr, out.stderr
    msg, seconds, stop, handler = out.stdout.split("|")[1:]
    assert "run the same command to resume" in msg
    assert float(seconds) < 10 and stop.strip() == "False" and handler.strip() == "True"


def test_train_many_runs_side_by_side_like_one_after_another(smoke_cfg):
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = {g: pipeline.train("cwgan", smoke_cfg, train, out_name=f"alone{g}", steps=3, gp_weight=g,
                                   progress=False)["all"] for g in (1.0, 10.0)}
        many = pipeline.train_many("cwgan", smoke_cfg, train, {f"many{g}": dict(gp_weight=g) for g in (1.0, 10.0)},
                                   steps=3, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert set(many) == {"many1.0", "many10.0"}
    for g in (1.0, 10.0):
        pd.testing.assert_frame_equal(alone[g].frame, many[f"many{g}"]["all"].frame)
    assert not many["many1.0"]["all"].frame.equals(many["many10.0"]["all"].frame)  # the setting reached each run


def test_a_finished_run_is_not_counted_as_a_worker(smoke_cfg, monkeypatch):
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    pipeline.train("cwgan", smoke_cfg, train, out_name="done", steps=3, progress=False)
    assert pipeline._finished("cwgan", smoke_cfg, train, "done", 3, {})
    assert not pipeline._finished("cwgan", smoke_cfg, train, "done", 5, {})
    assert not pipeline._finished("cwgan", smoke_cfg, train, "new", 3, {})
    seen = {}
    monkeypatch.setattr(pipeline, "train_side_by_side", lambda fn, jobs, workers: seen.setdefault("w", workers))
    pipeline.train_many("cwgan", smoke_cfg, train, {"done": {}, "new": {}}, steps=3, progress=False)
    assert seen["w"] == 1  # one run left to train: it keeps every math thread


def test_spare_runs_fill_the_idle_cores_on_a_cpu_only(smoke_cfg, monkeypatch):
    later = {f"gp{g}": dict(gp_weight=g) for g in (0.5, 2.0, 5.0)}
    monkeypatch.setattr(pipeline, "_CORES", 2)
    assert pipeline.spare_runs(smoke_cfg, later) == {"gp0.5": dict(gp_weight=0.5)}  # one model now, one core free
    assert pipeline.spare_runs(smoke_cfg, later, n_models=2) == {}
    monkeypatch.setattr(pipeline, "_CORES", 4)
    assert list(pipeline.spare_runs(smoke_cfg, later)) == ["gp0.5", "gp2.0", "gp5.0"]
    monkeypatch.setattr(pipeline, "_CORES", 1)
    assert pipeline.spare_runs(smoke_cfg, later) == {}
    monkeypatch.setattr(pipeline, "_CORES", 8)
    assert pipeline.spare_runs(dataclasses.replace(smoke_cfg, device="cuda"), later) == {}  # one after another there
