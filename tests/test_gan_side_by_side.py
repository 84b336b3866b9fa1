"""Class models trained side by side in threads (helpers.gan.pipeline through helpers.parallel):
each built and seeded in the calling thread, each loop drawing from its own generators."""

from __future__ import annotations

import pandas as pd
import torch

from helpers import parallel
from helpers.gan import pipeline
from helpers.gan.presets import get_preset
from helpers.parallel import jobs as parallel_jobs
from helpers.train.loop import load_checkpoint


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
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 1)
        one = pipeline.train("wgan-gp", smoke_cfg, train, out_name="one", steps=4, progress=False)
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 2)
        two = pipeline.train("wgan-gp", smoke_cfg, train, out_name="two", steps=4, progress=False)
        # all three at once (more threads than a 2-core machine has cores)
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 3)
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


def test_models_with_dropout_train_side_by_side_as_one_after_another(smoke_cfg, monkeypatch):
    """The paper critic's dropout draws its masks from the run's own stream: class models with
    dropout train in threads too (they used to train one after another), with the numbers of one
    after another, and a resumed run draws the masks it would have drawn."""
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    assert parallel.side_by_side(3, smoke_cfg.device).kind == "threads"
    seen = []
    real_run = parallel.run
    monkeypatch.setattr(pipeline, "halfway_store", lambda *a: None)  # each run trained, none started halfway
    monkeypatch.setattr(parallel, "run", lambda jobs, backend, *a, **k: seen.append(backend.kind) or
                        real_run(jobs, backend, *a, **k))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 1)
        one = pipeline.train("wgan", smoke_cfg, train, out_name="drop1", steps=4, progress=False, dropout=0.3)
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 3)
        three = pipeline.train("wgan", smoke_cfg, train, out_name="drop3", steps=4, progress=False, dropout=0.3)
        # stopped at step 2 and resumed: the same as the run straight through
        pipeline.train("wgan", smoke_cfg, train, out_name="drop-resumed", steps=2, progress=False, dropout=0.3,
                       checkpoint_every=2)
        resumed = pipeline.train("wgan", smoke_cfg, train, out_name="drop-resumed", steps=4, progress=False,
                                 dropout=0.3, checkpoint_every=2)
    finally:
        torch.set_num_threads(threads)
    assert seen == ["inline", "threads", "threads", "threads"]
    for cls in one:
        a = _weights(smoke_cfg.runs_dir / "generators" / "drop1" / cls)
        for other, hist in (("drop3", three), ("drop-resumed", resumed)):
            b = _weights(smoke_cfg.runs_dir / "generators" / other / cls)
            assert all(torch.equal(a[k], b[k]) for k in a), (other, cls)
            pd.testing.assert_frame_equal(one[cls].frame, hist[cls].frame)
    ck, _ = load_checkpoint(smoke_cfg.runs_dir / "generators" / "drop3" / "benign" / "checkpoint.pt")
    assert "dropout" in ck["rngs"] and "torch_rng" not in ck  # its own stream; torch's global one untouched


def test_no_process_wide_lock_is_left():
    from helpers.train import loop

    assert not hasattr(loop, "GLOBAL_RNG")


CTRL_C = """
import os, signal, threading, time
from helpers import parallel
from helpers.errors import Interrupted
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
    parallel.run([parallel.task(fake_train, k) for k in "abc"], parallel.Backend("threads", workers=2))
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
    assert pipeline._unfinished("cwgan", smoke_cfg, train, {"done": {}}, 3) == 0
    assert pipeline._unfinished("cwgan", smoke_cfg, train, {"done": {}}, 5) == 1
    assert pipeline._unfinished("cwgan", smoke_cfg, train, {"done": {}, "new": {}}, 3) == 1
    seen = {}
    real_run = parallel.run
    monkeypatch.setattr(parallel, "run", lambda jobs, backend, *a, **k: seen.setdefault("b", backend) and
                        real_run(jobs, backend, *a, **k))
    many = pipeline.train_many("cwgan", smoke_cfg, train, {"done": {}, "new": {}}, steps=3, progress=False)
    assert seen["b"] == parallel.INLINE  # one run left to train: it keeps every math thread
    assert set(many) == {"done", "new"} and many["new"]["all"].steps == 3


def test_class_models_train_side_by_side_on_a_cpu_only(smoke_cfg, monkeypatch):
    monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 3)
    assert parallel.side_by_side(3, smoke_cfg.device) == parallel.Backend("threads", workers=3)
    assert parallel.side_by_side(1, smoke_cfg.device) == parallel.INLINE
    assert parallel.side_by_side(3, "cuda") == parallel.INLINE
    assert get_preset("wgan", "paper").dropout  # the preset whose models used to train one at a time


def test_lessons_hold_no_scheduling():
    """Notebook 05 trains its sweep where it needs it (section 5); nothing in the package picks
    runs to fill idle cores any more."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "05_cwgan.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "spare_runs" not in code and not hasattr(pipeline, "spare_runs")
    assert 'pipeline.train("cwgan", cfg, train, step=cwgan_step)' in code  # section 3: the main model alone
