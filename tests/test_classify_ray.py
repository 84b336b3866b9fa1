"""The grid through Ray: a local 2-CPU cluster, a worker killed mid-run, the same results as
the local executor, and a rerun that skips every finished run."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from test_classify_grid import _fake_set

from helpers.classify.data import plain
from helpers.classify.executors import FAULT_ENV
from helpers.classify.grid import run_grid
from helpers.classify.grid_run import run_dir
from helpers.classify.presets import PRESETS
from helpers.classify.settings import Setting, plan, run_id
from helpers.prepare import load_prepared

ray = pytest.importorskip("ray")


def test_ray_grid_survives_a_killed_worker_and_matches_the_local_executor(smoke_cfg, tmp_path, monkeypatch):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    settings = [Setting.parse("real"), Setting.parse("real+syn:fake")]
    runs = plan(records, ["tiny"], settings, [0], [0, 1])
    preset = dict(PRESETS["smoke"], epochs=2)
    local = run_grid(smoke_cfg, records, runs, preset, progress=False, out_dir=tmp_path / "local")

    killed = run_id("tiny", "real+syn:fake", 0, 1)
    marker = tmp_path / "killed.txt"
    monkeypatch.setenv(FAULT_ENV, f"{killed}::{marker}")  # the worker running this run dies once
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "ray"
    res = run_grid(smoke_cfg, records, runs, preset, progress=False, out_dir=out, executor="ray", num_cpus=2)
    assert marker.exists(), "the fault was not injected"
    assert sorted(res["run"]) == sorted(local["run"]) and len(res) == len(runs)  # retried, recorded once
    cols = ["run", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "n_train_synth"]
    pd.testing.assert_frame_equal(res[cols].sort_values("run").reset_index(drop=True),
                                  local[cols].sort_values("run").reset_index(drop=True))
    for rid in local["run"]:
        a = pd.read_csv(run_dir(tmp_path / "local", rid) / "preds.csv")
        b = pd.read_csv(run_dir(out, rid) / "preds.csv")
        pd.testing.assert_frame_equal(a, b)
    # a rerun finds every run finished and starts no Ray at all
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("nothing to run"))
    again = run_grid(smoke_cfg, records, runs, preset, progress=False, out_dir=out, executor="ray")
    assert len(again) == len(runs)
    assert os.environ[FAULT_ENV]
