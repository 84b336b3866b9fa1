"""The grid through Ray: a local 2-CPU cluster, a worker killed mid-run, the same results as
the local executor, and a rerun that skips every finished run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_classify_grid import _fake_set

from helpers.classify import grid
from helpers.classify.data import plain
from helpers.classify.grid import run_dir, run_grid
from helpers.classify.presets import PRESETS
from helpers.classify.settings import Setting, plan, run_id
from helpers.prepare import load_prepared

ray = pytest.importorskip("ray")


def _dies_once(killed: str, marker: str, cfg, records, run, *rest):
    """The grid's run task in a Ray worker; the worker running run `killed` dies once, after
    training the run and before recording it (`marker` says it already did)."""
    if run_id(run[0], run[1].name, run[2], run[3]) == killed and not Path(marker).exists():
        def die(*args, **kwargs):
            Path(marker).write_text("killed once")
            os._exit(137)  # the worker dies mid-run: its row was never recorded

        grid.append_result = die  # in this worker process only
    return grid.run_and_record(cfg, records, run, *rest)  # the worker's module is not patched


def test_ray_grid_survives_a_killed_worker_and_matches_the_local_executor(smoke_cfg, tmp_path, monkeypatch):
    import functools

    import ray.cloudpickle

    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    settings = [Setting.parse("real"), Setting.parse("real+syn:fake")]
    runs = plan(records, ["tiny"], settings, [0], [0, 1])
    preset = PRESETS["smoke"].with_(epochs=2)
    local = run_grid(smoke_cfg, records, runs, preset, progress=False, out_dir=tmp_path / "local")

    killed = run_id("tiny", "real+syn:fake", 0, 1)
    marker = tmp_path / "killed.txt"
    # the fault lives here, not in the package: this module travels to the workers by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(grid, "run_and_record", functools.partial(_dies_once, killed, str(marker)))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "ray"
    try:
        res = run_grid(smoke_cfg, records, runs, preset, progress=False, out_dir=out, executor="ray", num_cpus=2)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
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


def test_the_package_carries_no_fault_injection():
    import helpers

    for path in Path(helpers.__file__).parent.rglob("*.py"):
        text = path.read_text()
        assert "os._exit" not in text and "FAULT_ENV" not in text, path
