"""The main job: run every course notebook in order with papermill.

The notebooks are those `helpers.course.notebooks` finds (a notebook added later is picked up
without edits). Executed copies go to `RUNS/notebooks/`; a table of timings is printed and
saved as `RUNS/notebooks/timings.csv`, and the course report (helpers.course.report) is
written to `RUNS/index.html`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import pandas as pd

from helpers.course.notebooks import notebooks
from helpers.course.report import build_report
from helpers.progress import ENV as PROGRESS_ENV
from helpers.progress import TEXT as TEXT_BARS


def parameters(profile: str, dataset: str, runs_dir: str | Path, data_dir: str | Path | None = None,
               seed: int = 0) -> dict:
    return dict(PROFILE=profile, DATASET=dataset, DATA_DIR=str(Path(data_dir).resolve()) if data_dir else "",
                RUNS_DIR=str(Path(runs_dir).resolve()), SEED=seed)


def execute(nb: str | Path, out: str | Path, params: dict, timeout: int | None = None, progress: bool = False):
    """Run one notebook with papermill in its own folder, with the same parameters also set
    as environment variables (so any helper reading COURSE_* agrees with the cell). The kernel
    draws text progress bars (helpers.progress): a widget bar would be saved at 0%."""
    import papermill as pm  # heavy, and only the runner needs it

    nb, out = Path(nb), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"COURSE_PROFILE": params["PROFILE"], "COURSE_DATASET": params["DATASET"],
           "COURSE_RUNS_DIR": params["RUNS_DIR"], "COURSE_DATA_DIR": params["DATA_DIR"],
           "COURSE_SEED": str(params["SEED"]), PROGRESS_ENV: TEXT_BARS,
           # the kernel's math threads sleep while they wait (see helpers/__init__.py)
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with mock.patch.dict(os.environ, env):  # set for this notebook only, restored after
        pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(nb.parent), kernel_name="python3",
                            progress_bar=progress, execution_timeout=timeout, log_output=False,
                            coalesce_streams=True)  # one stream per cell, "\r" resolved: bars end at 100%


def failure(e: Exception) -> str:
    """One line for a notebook that failed: the notebook's own error (papermill's carries its
    name and text in `ename` / `evalue`), else the exception's first line of text."""
    name, text = (e.ename, e.evalue) if getattr(e, "ename", None) else (type(e).__name__, str(e))
    return f"{name}: {next((ln.strip() for ln in str(text).splitlines() if ln.strip()), '')}"[:300]


def run_course(profile: str = "quick", dataset: str = "phantom", runs_dir: str | Path = "runs/quick-phantom",
               data_dir: str | Path | None = None, notebooks_dir: str | Path = "notebooks", seed: int = 0,
               only: list[str] | None = None, report: bool = True) -> pd.DataFrame:
    runs_dir = Path(runs_dir)
    out_dir = runs_dir / "notebooks"
    params = parameters(profile, dataset, runs_dir, data_dir, seed)
    rows = []
    todo = notebooks(notebooks_dir, only, required=True)
    print(f"Running {len(todo)} notebooks on profile={profile} dataset={dataset}; executed copies -> {out_dir}")
    for nb in todo:
        t0 = time.perf_counter()
        status = "ok"
        print(f"  {nb.name} ...", flush=True)
        try:
            execute(nb, out_dir / nb.name, params, progress=True)
        except Exception as e:  # keep going: report every notebook, fail at the end
            status = f"FAILED: {failure(e)}"
        dt = time.perf_counter() - t0
        rows.append(dict(notebook=nb.name, seconds=round(dt, 1), status=status, output=str(out_dir / nb.name)))
        print(f"  {nb.name}: {dt:7.1f} s  {status}", flush=True)
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "timings.csv", index=False)
    total = table["seconds"].sum()
    print(f"\n{table.to_string(index=False)}\n\ntotal {total / 60:.1f} min; executed notebooks in {out_dir.resolve()}")
    if report:  # a reader who ran nothing opens RUNS/index.html
        build_report(runs_dir)
    return table
