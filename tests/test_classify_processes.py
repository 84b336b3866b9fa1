"""The local executor's side-by-side processes give the same results as one process."""

from __future__ import annotations

import pandas as pd
from test_classify_grid import _fake_set

from helpers.classify.data import plain
from helpers.classify.grid import run_dir, run_grid
from helpers.classify.presets import PRESETS
from helpers.classify.settings import Setting, plan
from helpers.prepare import load_prepared


def test_runs_in_two_processes_match_one_process_and_are_not_rerun(smoke_cfg, tmp_path, monkeypatch):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    runs = plan(records, ["tiny"], [Setting.parse("real"), Setting.parse("real+syn:fake")], [0], [0, 1])
    one = run_grid(smoke_cfg, records, runs, PRESETS["smoke"].with_(epochs=2, workers=1), progress=False,
                   out_dir=tmp_path / "one")
    two = run_grid(smoke_cfg, records, runs, PRESETS["smoke"].with_(epochs=2, workers=2), progress=False,
                   out_dir=tmp_path / "two")
    assert len(two) == len(runs) and set(two["run"]) == set(one["run"])
    assert (two["threads"] == 1).all()
    cols = ["run", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "n_train_synth"]
    pd.testing.assert_frame_equal(two[cols].sort_values("run").reset_index(drop=True),
                                  one[cols].sort_values("run").reset_index(drop=True))
    for rid in one["run"]:
        a = pd.read_csv(run_dir(tmp_path / "one", rid) / "preds.csv")
        b = pd.read_csv(run_dir(tmp_path / "two", rid) / "preds.csv")
        pd.testing.assert_frame_equal(a, b)
    # finished runs are read back, not trained again (no pool is started)
    from helpers.parallel import processes

    monkeypatch.setattr(processes, "ProcessPoolExecutor", None)
    again = run_grid(smoke_cfg, records, runs, PRESETS["smoke"].with_(epochs=2, workers=2), progress=False,
                     out_dir=tmp_path / "two")
    assert len(again) == len(runs)
