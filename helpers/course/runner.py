"""The main job: run every course notebook in order with papermill.

The notebooks are those `helpers.course.notebooks` finds (a notebook added later is picked up
without edits). Executed copies go to `RUNS/notebooks/`; a table of timings is printed and
saved as `RUNS/notebooks/timings.csv`, and the course report (helpers.course.report) is
written to `RUNS/index.html`.

Two companion notebooks run beside the main chain, each in a process of its own (`BESIDE`):
one lesson at a time leaves part of a 2-core CPU idle while it trains a lone model, and a
companion fills it. Each starts when the notebook it needs has finished and is waited for
before the first notebook that reads its outputs; the numbers are those of a run one after
another (a training's result depends only on its arguments and its math threads).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


# companion -> (the notebook it waits for, the notebook that waits for it): 05b needs only the
# course's setup and writes under RUNS/histopathology/; 06b needs notebook 06's DDPM and draws
# the per-class set (RUNS/synthetic/ddpm-per-class/) that notebook 08 reads.
BESIDE = {"05b": ("02", "07"), "06b": ("06", "08")}


def _key(nb: Path) -> str:
    return nb.name.split("_")[0]


def run_one(nb: str | Path, out: str | Path, params: dict, progress: bool = True) -> dict:
    """Run one notebook; its timing row (a failure is its status, not an exception)."""
    t0, status = time.perf_counter(), "ok"
    try:
        execute(nb, out, params, progress=progress)
    except Exception as e:  # keep going: report every notebook, fail at the end
        status = f"FAILED: {failure(e)}"
    return dict(notebook=Path(nb).name, seconds=round(time.perf_counter() - t0, 1), status=status, output=str(out))


def _start(nb: Path, out: Path, params: dict) -> subprocess.Popen:
    """A companion notebook in a process of its own; its progress goes to <out>.log."""
    code = "import json, sys; from helpers.course.runner import run_one; print(json.dumps(run_one(*json.loads(sys.argv[1]))))"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".log"), "w") as log:
        return subprocess.Popen([sys.executable, "-c", code, json.dumps([str(nb), str(out), params])],
                                stdout=subprocess.PIPE, stderr=log, text=True, cwd=os.getcwd(),
                                start_new_session=True)  # its kernel too is stopped with it (below)


def _join(proc: subprocess.Popen, nb: Path, out: Path) -> dict:
    stdout, _ = proc.communicate()
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return dict(notebook=nb.name, seconds=float("nan"), status=f"FAILED: see {out.with_suffix('.log')}",
                    output=str(out))


def run_course(profile: str = "quick", dataset: str = "phantom", runs_dir: str | Path = "runs/quick-phantom",
               data_dir: str | Path | None = None, notebooks_dir: str | Path = "notebooks", seed: int = 0,
               only: list[str] | None = None, report: bool = True) -> pd.DataFrame:
    runs_dir = Path(runs_dir)
    out_dir = runs_dir / "notebooks"
    params = parameters(profile, dataset, runs_dir, data_dir, seed)
    rows = {}
    todo = notebooks(notebooks_dir, only, required=True)
    keys = [_key(nb) for nb in todo]
    beside = {k: v for k, v in BESIDE.items() if k in keys and v[0] in keys and keys.index(v[0]) < keys.index(k)}
    running: dict[str, tuple] = {}
    print(f"Running {len(todo)} notebooks on profile={profile} dataset={dataset}; executed copies -> {out_dir}")
    wall0 = time.perf_counter()
    try:
        for nb, key in zip(todo, keys):
            for k in [k for k, (_, before) in beside.items() if before == key and k in running]:
                rows[k] = _join(*running.pop(k))
                print(f"  {rows[k]['notebook']}: {rows[k]['seconds']:7.1f} s  {rows[k]['status']} (beside the others)")
            if key in beside:
                continue  # started beside the main chain (below)
            print(f"  {nb.name} ...", flush=True)
            rows[key] = run_one(nb, out_dir / nb.name, params)
            print(f"  {nb.name}: {rows[key]['seconds']:7.1f} s  {rows[key]['status']}", flush=True)
            for k in [k for k, (after, _) in beside.items() if after == key]:
                comp = todo[keys.index(k)]
                print(f"  {comp.name} ... (beside the next notebooks; its output: {(out_dir / comp.name).with_suffix('.log')})")
                running[k] = (_start(comp, out_dir / comp.name, params), comp, out_dir / comp.name)
        for k in list(running):
            rows[k] = _join(*running.pop(k))
    finally:  # an interrupted course leaves no notebook running behind it
        for proc, *_ in running.values():
            os.killpg(proc.pid, signal.SIGTERM)
    rows = [rows[k] for k in keys]
    wall = time.perf_counter() - wall0
    table = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "timings.csv", index=False)
    print(f"\n{table.to_string(index=False)}\n\ntotal {wall / 60:.1f} min ({table['seconds'].sum() / 60:.1f} min of "
          f"notebooks, {', '.join(beside) or 'none'} beside the others); executed notebooks in {out_dir.resolve()}")
    if report:  # a reader who ran nothing opens RUNS/index.html
        build_report(runs_dir)
    return table
