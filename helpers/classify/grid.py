"""The experiment grid: architecture x data setting x fold x seed, resumable.

`run_grid` runs every run (`helpers.classify.settings.plan`) not yet in
RUNS/classify/results.csv (`helpers.classify.store`), each through
`helpers.classify.grid_run.run_and_record`, through helpers.parallel: in this process, in
side-by-side processes on a CPU (`workers`), or as Ray tasks (`executor="ray"`). The
studies' grid is set up by `helpers.classify.studies.run_studies`; the analysis of finished
runs is `helpers.classify.analysis`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from helpers import parallel
from helpers.classify.grid_run import run_and_record
from helpers.classify.presets import PRESETS
from helpers.classify.settings import run_id
from helpers.classify.store import RESULTS, finished, read_results
from helpers.classify.synthetic import set_job
from helpers.errors import SettingError
from helpers.parallel import task


def classify_dir(cfg) -> Path:
    return cfg.stage_dir("classify")


def run_grid(cfg, records: pd.DataFrame, runs: list[tuple], preset: dict | None = None, pretrained="auto",
             progress: bool = True, out_dir: Path | None = None, executor: str = "local", **ray_options) -> pd.DataFrame:
    """Run every run not yet in RUNS/classify/results.csv; returns the full results table.
    Where (helpers.parallel): in this process; with preset.workers > 1 on a CPU, in that many
    processes of one math thread; with `executor="ray"`, as Ray tasks (`ray_options`: address,
    cpus_per_cell, gpus_per_cell, num_cpus, max_retries). Every run appends its row under the
    store's lock, so a rerun skips finished runs wherever they ran."""
    preset = preset or PRESETS[cfg.profile]
    out_dir = Path(out_dir) if out_dir else classify_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = finished(out_dir)
    todo = [r for r in runs if run_id(r[0], r[1].name, r[2], r[3]) not in done]
    if len(todo) < len(runs):
        print(f"{len(runs) - len(todo)} of {len(runs)} runs already in {out_dir / RESULTS}; running {len(todo)}")
    backend = _backend(cfg, preset, executor, len(todo), ray_options)
    threads = torch.get_num_threads()
    if backend.kind == "inline" and preset.threads:
        torch.set_num_threads(int(preset.threads))
    try:
        sets: dict = {}  # one synthetic-set job per (generator, fold), shared by its runs
        jobs = [task(run_and_record, cfg, records, run, preset, pretrained, out_dir,
                     set_job(cfg, records, todo, run[1], run[2], preset, sets, progress and backend.kind != "ray"))
                for run in todo]
        parallel.run(jobs, backend, progress=progress, desc="classifier grid", unit="run", postfix=str)
    finally:
        torch.set_num_threads(threads)
    return read_results(out_dir)


def _backend(cfg, preset: dict, executor: str, n_runs: int, ray_options: dict) -> parallel.Backend:
    if executor == "ray":
        o = dict(ray_options)
        cpus = int(o.pop("cpus_per_cell", None) or 1)
        return parallel.Backend("ray", cpus=cpus, threads=cpus, gpus=o.pop("gpus_per_cell", None), **o)
    if executor != "local":
        raise SettingError(f"Unknown executor {executor!r}; choose local or ray.")
    workers = min(int(preset.workers or 1), n_runs)
    if workers > 1 and str(cfg.device) == "cpu":
        # small CPU models scale badly over threads, but two runs side by side use both cores
        return parallel.Backend("processes", workers=workers, threads=1)
    return parallel.INLINE
