"""The classifier grid's results: RUNS/classify/results.csv, one row per run id.

A finished run appends its row under the package's one file lock
(`helpers.train.lock.run_lock(..., wait=True)`) and the file is rewritten through an atomic
rename, so several grid processes (side-by-side workers, one process per fold, Ray workers on
a shared file system) share one file and an interrupted write loses nothing. A run id already
in the file is finished: a rerun skips it.

Earlier versions called a run a "cell": a results.csv with a `cell` column is read with the
column renamed to `run` (and written back that way with the next row).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from helpers.train.lock import run_lock

RESULTS = "results.csv"
ID = "run"
_OLD_ID = "cell"


def read_results(out_dir) -> pd.DataFrame:
    """Every finished run's row (an empty table with the `run` column if there is none)."""
    path = Path(out_dir) / RESULTS
    if not (path.exists() and path.stat().st_size):
        return pd.DataFrame(columns=[ID])
    df = pd.read_csv(path)
    return df.rename(columns={_OLD_ID: ID}) if _OLD_ID in df and ID not in df else df


def finished(out_dir) -> set[str]:
    """The ids of the runs already in results.csv."""
    return set(read_results(out_dir)[ID])


def append_result(out_dir, rid: str, row: dict) -> None:
    """Add run `rid`'s row (first column `run`) to results.csv, under the file lock."""
    out_dir = Path(out_dir)
    with run_lock(out_dir, what="written", wait=True, name=RESULTS + ".lock"):
        df = pd.concat([read_results(out_dir), pd.DataFrame([{ID: rid, **row}])], ignore_index=True)
        tmp = out_dir / (RESULTS + f".{os.getpid()}.part")
        df.to_csv(tmp, index=False)
        tmp.replace(out_dir / RESULTS)
