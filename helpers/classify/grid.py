"""The experiment grid: architecture x data setting x fold x seed, resumable, and its tables.

`run_grid` runs every run (`helpers.classify.settings.plan`) not yet in
RUNS/classify/results.csv, each through `helpers.classify.grid_run.run_and_record`, through
helpers.parallel: in this process, in side-by-side processes on a CPU (`workers`), or as Ray
tasks (`executor="ray"`). The studies' grid is set up by `helpers.classify.comparison`.

A finished grid is read from its predictions: `pooled_table` pools every fold's test
predictions per (arch, setting) with group bootstrap CIs, `paired_table` gives each setting
minus real-only on the same test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import parallel
from helpers.classify.engine import PREDS
from helpers.classify.grid_run import RESULTS, finished, read_results, run_and_record, run_dir
from helpers.classify.metrics import HEADLINE, bootstrap, ci_columns, paired_difference, score
from helpers.classify.presets import PRESETS
from helpers.classify.settings import run_id
from helpers.classify.synthetic import set_job
from helpers.errors import SettingError
from helpers.parallel import task


def classify_dir(cfg) -> Path:
    return cfg.stage_dir("classify")


def run_grid(cfg, records: pd.DataFrame, runs: list[tuple], preset: dict | None = None, pretrained="auto",
             progress: bool = True, out_dir: Path | None = None, executor: str = "local", **ray_options) -> pd.DataFrame:
    """Run every run not yet in RUNS/classify/results.csv; returns the full results table.
    Where (helpers.parallel): in this process; with preset['workers'] > 1 on a CPU, in that many
    processes of one math thread; with `executor="ray"`, as Ray tasks (`ray_options`: address,
    cpus_per_cell, gpus_per_cell, num_cpus, max_retries). Every run appends its row under the
    store's lock, so a rerun skips finished runs wherever they ran."""
    preset = dict(PRESETS[cfg.profile], **(preset or {}))
    out_dir = Path(out_dir) if out_dir else classify_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = finished(out_dir)
    todo = [r for r in runs if run_id(r[0], r[1].name, r[2], r[3]) not in done]
    if len(todo) < len(runs):
        print(f"{len(runs) - len(todo)} of {len(runs)} runs already in {out_dir / RESULTS}; running {len(todo)}")
    backend = _backend(cfg, preset, executor, len(todo), ray_options)
    threads = torch.get_num_threads()
    if backend.kind == "inline" and preset.get("threads"):
        torch.set_num_threads(int(preset["threads"]))
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
    workers = min(int(preset.get("workers") or 1), n_runs)
    if workers > 1 and str(cfg.device) == "cpu":
        # small CPU models scale badly over threads, but two runs side by side use both cores
        return parallel.Backend("processes", workers=workers, threads=1)
    return parallel.INLINE


def load_predictions(out_dir, results: pd.DataFrame, file: str = PREDS) -> pd.DataFrame:
    """Every finished run's test predictions (or another file of its folder: history.csv),
    with its run, arch, setting, fold and seed."""
    parts = [pd.read_csv(run_dir(out_dir, r.run) / file).assign(run=r.run, arch=r.arch, setting=r.setting,
                                                                fold=r.fold, seed=r.seed)
             for r in results.itertuples()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _proba(df: pd.DataFrame, classes) -> np.ndarray:
    return df[[f"p_{c}" for c in classes]].to_numpy()


def pooled_table(preds: pd.DataFrame, classes, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (arch, setting): metrics on all folds' test predictions pooled (each image
    scored once per seed by the model that never saw it), with a bootstrap CI that draws whole
    near-duplicate groups. Also the number of folds/seeds and the spread over folds."""
    rows = []
    if preds.empty:
        return pd.DataFrame()
    for (arch, setting), d in preds.groupby(["arch", "setting"], sort=False):
        ci = bootstrap(d["label"], _proba(d, classes), classes, n_boot, seed, groups=d["group"])
        per_fold = [score(g["label"], _proba(g, classes), classes)["accuracy"] for _, g in d.groupby(["fold", "seed"])]
        rows.append(dict(arch=arch, setting=setting, n_folds=d["fold"].nunique(), n_seeds=d["seed"].nunique(),
                         n_test=len(d), acc_fold_sd=float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else np.nan,
                         **ci_columns(ci)))
    return pd.DataFrame(rows)


def paired_table(preds: pd.DataFrame, classes, baseline: str = "real", metrics=HEADLINE, n_boot: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """Each setting minus `baseline` on the same test images (same folds and seeds), with a
    paired bootstrap CI over near-duplicate groups."""
    rows = []
    if preds.empty:
        return pd.DataFrame()
    key = ["path", "fold", "seed"]
    for arch, da in preds.groupby("arch", sort=False):
        base = da[da["setting"] == baseline]
        if base.empty:
            continue
        for setting, d in da.groupby("setting", sort=False):
            if setting == baseline:
                continue
            m = base.merge(d, on=key, suffixes=("_a", "_b"))
            if m.empty:
                continue
            pa = m[[f"p_{c}_a" for c in classes]].to_numpy()
            pb = m[[f"p_{c}_b" for c in classes]].to_numpy()
            diff = paired_difference(m["label_a"], pa, pb, classes, n_boot, seed, groups=m["group_a"], metrics=metrics)
            for r in diff.itertuples():
                rows.append(dict(arch=arch, setting=setting, baseline=baseline, metric=r.metric, diff=r.diff,
                                 lo=r.lo, hi=r.hi, p=r.p, n_test=len(m)))
    return pd.DataFrame(rows)

