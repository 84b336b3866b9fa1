"""The grid through Ray: a local 2-CPU cluster, a worker killed mid-cell, the same results as
the local executor, and a rerun that skips every finished cell."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_classify_grid import _fake_set

from helpers.classify import grid as G
from helpers.classify.data import plain
from helpers.prepare import load_prepared

ray = pytest.importorskip("ray")


def _dies_once(killed: str, marker: str, cfg, records, cell, *rest):
    """The grid's cell task, run in a Ray worker; the worker running cell `killed` dies once,
    after training the cell and before recording it (`marker` says it already did)."""
    from helpers.classify import grid

    if grid.cell_id(cell[0], cell[1].name, cell[2], cell[3]) == killed and not Path(marker).exists():
        def die(*args, **kwargs):
            Path(marker).write_text("killed once")
            os._exit(137)  # the worker dies mid-cell: its row was never recorded

        grid._append_result = die  # in this worker process only
    return grid._cell_task(cfg, records, cell, *rest)


def test_ray_grid_survives_a_killed_worker_and_matches_the_local_executor(smoke_cfg, tmp_path, monkeypatch):
    import functools

    import ray.cloudpickle

    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    settings = [G.Setting.parse("real"), G.Setting.parse("real+syn:fake")]
    cells = G.plan(records, ["tiny"], settings, [0], [0, 1])
    preset = dict(G.PRESETS["smoke"], epochs=2)
    local = G.run_grid(smoke_cfg, records, cells, preset, progress=False, out_dir=tmp_path / "local")

    killed = G.cell_id("tiny", "real+syn:fake", 0, 1)
    marker = tmp_path / "killed.txt"
    # the fault lives here, not in the package: this module travels to the workers by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(G, "_cell_task", functools.partial(_dies_once, killed, str(marker)))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "ray"
    try:
        res = G.run_grid(smoke_cfg, records, cells, preset, progress=False, out_dir=out, executor="ray", num_cpus=2)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
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


def test_the_package_carries_no_fault_injection():
    import helpers.parallel.ray_tasks as R

    src = Path(R.__file__).parent.parent
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert "os._exit" not in text and "FAULT_ENV" not in text, path
