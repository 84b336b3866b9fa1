"""The grid through Ray: a local 2-CPU cluster, a worker killed mid-cell, the same results as
the local executor, and a rerun that skips every finished cell."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from test_classify_grid import _fake_set

from helpers.classify import grid as G
from helpers.classify.data import plain
from helpers.classify.executors import FAULT_ENV
from helpers.prepare import load_prepared

ray = pytest.importorskip("ray")


def test_ray_grid_survives_a_killed_worker_and_matches_the_local_executor(smoke_cfg, tmp_path, monkeypatch):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    settings = [G.Setting.parse("real"), G.Setting.parse("real+syn:fake")]
    cells = G.plan(records, ["tiny"], settings, [0], [0, 1])
    preset = dict(G.PRESETS["smoke"], epochs=2)
    local = G.run_grid(smoke_cfg, records, cells, preset, progress=False, out_dir=tmp_path / "local")

    killed = G.cell_id("tiny", "real+syn:fake", 0, 1)
    marker = tmp_path / "killed.txt"
    monkeypatch.setenv(FAULT_ENV, f"{killed}::{marker}")  # the worker running this cell dies once
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "ray"
    res = G.run_grid(smoke_cfg, records, cells, preset, progress=False, out_dir=out, executor="ray", num_cpus=2)
    assert marker.exists(), "the fault was not injected"
    assert sorted(res["cell"]) == sorted(local["cell"]) and len(res) == len(cells)  # retried, recorded once
    cols = ["cell", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "n_train_synth"]
    pd.testing.assert_frame_equal(res[cols].sort_values("cell").reset_index(drop=True),
                                  local[cols].sort_values("cell").reset_index(drop=True))
    for cid in local["cell"]:
        a = pd.read_csv(tmp_path / "local" / "cells" / G.cell_dirname(cid) / "preds.csv")
        b = pd.read_csv(out / "cells" / G.cell_dirname(cid) / "preds.csv")
        pd.testing.assert_frame_equal(a, b)
    # a rerun finds every cell finished and starts no Ray at all
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("nothing to run"))
    again = G.run_grid(smoke_cfg, records, cells, preset, progress=False, out_dir=out, executor="ray")
    assert len(again) == len(cells)
    assert os.environ[FAULT_ENV]
