"""The experiment grid: architecture x data setting x fold x seed, resumable.

`run_grid` runs every run (`helpers.classify.settings.plan`) not yet in
RUNS/classify/results.csv (`helpers.classify.store`), each through
`helpers.classify.grid_run.run_and_record`, in this process, in side-by-side processes on a
CPU (`workers`), or as Ray tasks (`executor="ray"`, `helpers.classify.executors`). The
studies' grid is set up by `helpers.classify.studies.run_studies`; the analysis of finished
runs is `helpers.classify.analysis`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from helpers.classify import executors
from helpers.classify.grid_run import run_and_record
from helpers.classify.presets import PRESETS
from helpers.classify.settings import run_id
from helpers.classify.store import RESULTS, finished, read_results
from helpers.classify.synthetic import run_manifest
from helpers.errors import SettingError


def classify_dir(cfg) -> Path:
    return cfg.stage_dir("classify")


def run_grid(cfg, records: pd.DataFrame, runs: list[tuple], preset: dict | None = None, pretrained="auto",
             progress: bool = True, out_dir: Path | None = None, executor: str = "local", **ray_options) -> pd.DataFrame:
    """Run every run not yet in RUNS/classify/results.csv; returns the full results table.
    `executor="ray"` runs them as Ray tasks (helpers.classify.executors; `ray_options`:
    address, cpus_per_cell, gpus_per_cell, num_cpus, max_retries)."""

    preset = dict(PRESETS[cfg.profile], **(preset or {}))
    out_dir = Path(out_dir) if out_dir else classify_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = finished(out_dir)
    todo = [r for r in runs if run_id(r[0], r[1].name, r[2], r[3]) not in done]
    if len(todo) < len(runs):
        print(f"{len(runs) - len(todo)} of {len(runs)} runs already in {out_dir / RESULTS}; running {len(todo)}")
    manifests: dict = {}
    if executor == "ray" and todo:
        executors.run_ray(cfg, records, todo, preset, pretrained, out_dir, progress=progress, **ray_options)
        return read_results(out_dir)
    if executor not in ("local", "ray"):
        raise SettingError(f"Unknown executor {executor!r}; choose local or ray.")
    workers = min(int(preset.get("workers") or 1), len(todo))
    if workers > 1 and str(cfg.device) == "cpu":
        executors.run_processes(cfg, records, todo, preset, pretrained, out_dir, workers, manifests, progress)
        return read_results(out_dir)
    threads = torch.get_num_threads()
    if preset.get("threads"):
        torch.set_num_threads(int(preset["threads"]))
    try:
        _run_here(cfg, records, todo, preset, pretrained, progress, out_dir, manifests)
    finally:
        torch.set_num_threads(threads)
    return read_results(out_dir)


def _run_here(cfg, records, todo, preset, pretrained, progress, out_dir, manifests) -> None:
    with tqdm(total=len(todo), desc="classifier grid", unit="run", disable=not progress) as bar:
        for run in todo:
            arch, setting, fold, seed = run
            bar.set_postfix_str(run_id(arch, setting.name, fold, seed))
            manifest = run_manifest(cfg, records, todo, setting, fold, preset, manifests, progress)
            run_and_record(cfg, records, run, preset, pretrained, out_dir, manifest)
            bar.update(1)
