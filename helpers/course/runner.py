"""The main job: run every course notebook with papermill, two at a time where the notebooks
allow it (each starts once those it reads from have run).

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

from helpers import parallel
from helpers.course.notebooks import by_priority, notebooks, number, prerequisites
from helpers.course.report import build_report
from helpers.parallel import INLINE, Backend, Job
from helpers.parallel.jobs import CORES
from helpers.progress import ENV as PROGRESS_ENV
from helpers.progress import TEXT as TEXT_BARS

AT_ONCE = min(2, CORES)  # notebooks at a time (see run_course)


def parameters(profile: str, dataset: str, runs_dir: str | Path, data_dir: str | Path | None = None,
               seed: int = 0) -> dict:
    return dict(PROFILE=profile, DATASET=dataset, DATA_DIR=str(Path(data_dir).resolve()) if data_dir else "",
                RUNS_DIR=str(Path(runs_dir).resolve()), SEED=seed)


def execute(nb: str | Path, out: str | Path, params: dict, timeout: int | None = None, progress: bool = False,
            threads: int | None = None):
    """Run one notebook with papermill in its own folder, with the same parameters also set
    as environment variables (so any helper reading COURSE_* agrees with the cell). The kernel
    draws text progress bars (helpers.progress): a widget bar would be saved at 0%. `threads`:
    the kernel's math threads (OMP_NUM_THREADS, unless set already; None: torch's default)."""
    import papermill as pm  # heavy, and only the runner needs it

    nb, out = Path(nb), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"COURSE_PROFILE": params["PROFILE"], "COURSE_DATASET": params["DATASET"],
           "COURSE_RUNS_DIR": params["RUNS_DIR"], "COURSE_DATA_DIR": params["DATA_DIR"],
           "COURSE_SEED": str(params["SEED"]), PROGRESS_ENV: TEXT_BARS,
           # the kernel's math threads sleep while they wait (see helpers/__init__.py)
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    if threads:
        env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", str(threads))
    with mock.patch.dict(os.environ, env):  # set for this notebook only, restored after
        pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(nb.parent), kernel_name="python3",
                            progress_bar=progress, execution_timeout=timeout, log_output=False,
                            coalesce_streams=True,  # one stream per cell, "\r" resolved: bars end at 100%
                            # the kernel's own log: its warning that a local kernel talks over
                            # TCP, once per notebook, said nothing a student can act on
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])


def failure(e: Exception) -> str:
    """One line for a notebook that failed: the notebook's own error (papermill's carries its
    name and text in `ename` / `evalue`), else the exception's first line of text."""
    name, text = (e.ename, e.evalue) if getattr(e, "ename", None) else (type(e).__name__, str(e))
    return f"{name}: {next((ln.strip() for ln in str(text).splitlines() if ln.strip()), '')}"[:300]


def run_one(nb: str, out: str, params: dict, at_once: int) -> dict:
    """Run one notebook; its row of the timing table. A failure is reported, not raised, so the
    others still run (the course fails at the end). Beside others, a kernel gets its share of
    the cores as math threads (one each on two cores; its several jobs still run side by side):
    two kernels of two threads each on two cores cost a tenth more CPU time than one after
    another."""
    t0, name, alone = time.perf_counter(), Path(nb).name, at_once == 1
    if alone:  # two at a time, the caller's bar says which finished (lines would break it)
        print(f"  {name} ...", flush=True)
    try:
        execute(nb, out, params, progress=alone, threads=None if alone else max(1, CORES // at_once))
        status = "ok"
    except Exception as e:  # keep going: report every notebook, fail at the end
        status = f"FAILED: {failure(e)}"
    dt = time.perf_counter() - t0
    if alone:
        print(f"  {name}: {dt:7.1f} s  {status}", flush=True)
    return dict(notebook=name, seconds=round(dt, 1), status=status, output=str(out))


def run_course(profile: str = "quick", dataset: str = "phantom", runs_dir: str | Path = "runs/quick-phantom",
               data_dir: str | Path | None = None, notebooks_dir: str | Path = "notebooks", seed: int = 0,
               only: list[str] | None = None, report: bool = True, at_once: int = AT_ONCE) -> pd.DataFrame:
    """Every notebook, `at_once` at a time in processes of their own, each once the notebooks
    it reads from have run (helpers.course.notebooks.NEEDS); 1: one after another, in order.
    Two at a time keep both cores of a laptop busy while one notebook waits on a single model."""
    runs_dir = Path(runs_dir)
    out_dir = runs_dir / "notebooks"
    params = parameters(profile, dataset, runs_dir, data_dir, seed)
    todo = notebooks(notebooks_dir, only, required=True)
    at_once = max(1, min(int(at_once), len(todo)))
    if at_once > 1:
        todo = by_priority(todo)
    needs = prerequisites(todo)
    index = {number(nb): i for i, nb in enumerate(todo)}
    after = {index[number(nb)]: [index[m] for m in needs[number(nb)]] for nb in todo}
    print(f"Running {len(todo)} notebooks on profile={profile} dataset={dataset}"
          f"{f', {at_once} at a time' if at_once > 1 else ''}; executed copies -> {out_dir}")
    backend = Backend("processes", workers=at_once) if at_once > 1 else INLINE
    jobs = [Job(run_one, (str(nb), str(out_dir / nb.name), params, at_once)) for nb in todo]
    t0 = time.perf_counter()
    # one notebook shows its cells' bars; two at a time, a bar counts the notebooks finished
    rows = parallel.run(jobs, backend, progress=at_once > 1, desc="notebooks", unit="notebook",
                        postfix=lambda row: f"{row['notebook']} {row['status'][:6]}", after=after)
    wall = time.perf_counter() - t0
    table = pd.DataFrame(rows).sort_values("notebook", ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "timings.csv", index=False)
    shared = f" ({at_once} at a time; the notebooks' own times add up to {table.seconds.sum() / 60:.1f} min)"
    print(f"\n{table.to_string(index=False)}\n\ntotal {wall / 60:.1f} min{shared if at_once > 1 else ''}"
          f"; executed notebooks in {out_dir.resolve()}")
    if report:  # a reader who ran nothing opens RUNS/index.html
        build_report(runs_dir)
    return table
