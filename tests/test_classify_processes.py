"""The local executor's side-by-side processes give the same results as one process."""

from __future__ import annotations

import pandas as pd
from test_classify_grid import _fake_set

from helpers.classify import grid as G
from helpers.classify.data import plain
from helpers.prepare import load_prepared


def test_cells_in_two_processes_match_one_process_and_are_not_rerun(smoke_cfg, tmp_path, monkeypatch):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    cells = G.plan(records, ["tiny"], [G.Setting.parse("real"), G.Setting.parse("real+syn:fake")], [0], [0, 1])
    one = G.run_grid(smoke_cfg, records, cells, dict(G.PRESETS["smoke"], epochs=2, workers=1), progress=False,
                     out_dir=tmp_path / "one")
    two = G.run_grid(smoke_cfg, records, cells, dict(G.PRESETS["smoke"], epochs=2, workers=2), progress=False,
                     out_dir=tmp_path / "two")
    assert len(two) == len(cells) and set(two["cell"]) == set(one["cell"])
    assert (two["threads"] == 1).all()
    cols = ["cell", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "n_train_synth"]
    pd.testing.assert_frame_equal(two[cols].sort_values("cell").reset_index(drop=True),
                                  one[cols].sort_values("cell").reset_index(drop=True))
    for cid in one["cell"]:
        a = pd.read_csv(tmp_path / "one" / "cells" / G.cell_dirname(cid) / "preds.csv")
        b = pd.read_csv(tmp_path / "two" / "cells" / G.cell_dirname(cid) / "preds.csv")
        pd.testing.assert_frame_equal(a, b)
    # finished cells are read back, not trained again (no pool is started)
    from helpers.parallel import processes

    monkeypatch.setattr(processes, "ProcessPoolExecutor", None)
    again = G.run_grid(smoke_cfg, records, cells, dict(G.PRESETS["smoke"], epochs=2, workers=2), progress=False,
                       out_dir=tmp_path / "two")
    assert len(again) == len(cells)
