"""The experiment grid: architecture x data setting x fold x seed, resumable, and its tables.

A run (architecture, data setting, fold, seed; `helpers.classify.settings`) trains the
classifier engine (resumable per epoch) on the fold's real training part plus its synthetic
set, scores it on the fold's real images with bootstrap 95% CIs over near-duplicate groups,
keeps preds.csv and history.csv in RUNS/classify/runs/<run>/ and appends its row to
RUNS/classify/results.csv (`run_and_record`). `run_grid` runs every run not yet there through
helpers.parallel: in this process, in side-by-side processes on a CPU (`workers`), or as Ray
tasks (`executor="ray"`). The studies' grid is set up by `helpers.classify.comparison`.

The store: one row per run id. A run trains under its own lock (`helpers.train.lock.run_lock`,
waiting): two grids in one runs folder take turns on a run, and the second finds it finished
and skips it. The row is appended under the file's lock and the file rewritten through an
atomic rename, so several grid processes (side-by-side workers, Ray workers on a shared file
system, two `classify` at once) share one file and an interrupted write loses nothing. A run
id already in the file is finished: a rerun skips it, a row written again replaces it.
(A results.csv of an earlier version, with a `cell` column, is read as `run`.)

A finished grid is read from its predictions: `pooled_table` pools every fold's test
predictions per (arch, setting) with group bootstrap CIs, `paired_table` gives each setting
minus real-only on the same test images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import parallel
from helpers.classify.data import plain, training_table
from helpers.classify.engine import PREDS, Recipe, fit_predict, runs_folder, write_predictions
from helpers.classify.metrics import HEADLINE, bootstrap, ci_columns, paired_difference, score
from helpers.classify.models import STUDY_TRAINING
from helpers.classify.presets import PRESETS
from helpers.classify.protocol import check_evaluation
from helpers.classify.settings import Setting, parts, run_dirname, run_id
from helpers.classify.synthetic import set_job
from helpers.errors import Interrupted, SettingError
from helpers.parallel import task
from helpers.train.lock import run_lock

RESULTS = "results.csv"
RUN_LOCK = ".grid.lock"  # held by the grid around a run; not the trainer's own `.lock`
ID = "run"
_OLD_ID = "cell"


def read_results(out_dir) -> pd.DataFrame:
    """Every finished run's row (an empty table with the `run` column if there is none)."""
    path = Path(out_dir) / RESULTS
    if not (path.exists() and path.stat().st_size):
        return pd.DataFrame(columns=[ID])
    df = pd.read_csv(path)
    df = df.rename(columns={_OLD_ID: ID}) if _OLD_ID in df and ID not in df else df
    return df.drop_duplicates(ID, keep="last", ignore_index=True)  # a file of an earlier version may repeat runs


def finished(out_dir) -> set[str]:
    """The ids of the runs already in results.csv."""
    return set(read_results(out_dir)[ID])


def append_result(out_dir, rid: str, row: dict) -> None:
    """Add run `rid`'s row (first column `run`) to results.csv, under the file lock; a row of
    the same id already there is replaced."""
    out_dir = Path(out_dir)
    with run_lock(out_dir, what="written", wait=True, name=RESULTS + ".lock"):
        old = read_results(out_dir)
        df = pd.concat([old[old[ID] != rid], pd.DataFrame([{ID: rid, **row}])], ignore_index=True)
        tmp = out_dir / (RESULTS + f".{os.getpid()}.part")
        df.to_csv(tmp, index=False)
        tmp.replace(out_dir / RESULTS)


def recipe(arch: str, preset: dict, augment: str = "none", pretrained="auto") -> Recipe:
    """The grid's training of `arch`: the preset's epochs, learning rate and batch size, or,
    where the preset leaves them open (paper), the architecture's study's own."""
    study = STUDY_TRAINING.get(arch, {})
    epochs = int(preset.epochs or study.get("epochs", 10))
    lr = float(preset.lr or study.get("lr", 1e-3))
    bs = int(study.get("bs", preset.bs) if preset.epochs is None else preset.bs)
    return Recipe(arch, epochs, lr, bs, augment, pretrained, bool(preset.class_weights), bool(preset.tta))


def run_dir(out_dir, rid: str) -> Path:
    return runs_folder(out_dir) / run_dirname(rid)


def train_run(cfg, arch: str, setting: Setting, fold: int, seed: int, records: pd.DataFrame, preset: dict,
              folder: Path, manifest: Path | None, pretrained="auto", progress: bool = False) -> dict:
    """Train one classifier and score it on the fold's real images; returns the result row
    and writes preds.csv / history.csv into `folder`."""
    classes = cfg.classes
    records = plain(records)
    train_real, test = parts(records, fold)
    manifests = [manifest] if manifest is not None else []
    table = training_table(train_real, manifests, setting.per_class)
    check_evaluation(test, table, manifests, all_records=records, dup_threshold=cfg.dup_threshold)
    how = recipe(arch, preset, setting.augment, pretrained)
    fit = fit_predict(cfg, how, table, test, seed, folder, resume=True, progress=progress,
                      checkpoint_every=preset.checkpoint_every, compile=preset.torch_compile)
    preds = pd.DataFrame(dict(path=test["path"], group=test["group"], label=fit.labels, fold=fold, seed=seed))
    for c, name in enumerate(classes):
        preds[f"p_{name}"] = fit.probs[:, c]
    preds["pred"] = fit.probs.argmax(1)
    write_predictions(folder, preds)
    ci = bootstrap(preds["label"], fit.probs, classes, n_boot=preset.n_boot, seed=seed,
                   groups=preds["group"])
    syn = table[table["source"] == "synthetic"]
    row = dict(arch=arch, setting=setting.name, generator=setting.generator or "",
               per_class=setting.per_class if setting.per_class is not None else "",
               augment=setting.augment, fold=fold, seed=seed, epochs=how.epochs, lr=how.lr, bs=how.bs,
               pretrained=fit.imagenet, n_train_real=len(train_real), n_train_synth=len(syn),
               n_test=len(test), seconds=round(fit.seconds, 1), manifest=str(manifest or ""),
               device=str(cfg.device), threads=torch.get_num_threads())
    return row | ci_columns(ci, HEADLINE)


def run_and_record(cfg, records: pd.DataFrame, run: tuple, preset: dict, pretrained, out_dir, manifest,
                   progress: bool = False) -> str:
    """Train `run` = (arch, setting, fold, seed) unless results.csv has it already, and append
    its row; returns its id."""
    arch, setting, fold, seed = run
    rid = run_id(arch, setting.name, fold, seed)
    folder = run_dir(out_dir, rid)
    # another grid in this runs folder may be training it: wait, then skip what it finished
    with run_lock(folder, what="trained", wait=True, name=RUN_LOCK):
        if rid in finished(out_dir):
            return rid  # finished by an earlier attempt or by another grid
        row = train_run(cfg, arch, setting, fold, seed, records, preset, folder, manifest, pretrained,
                        progress=progress)
        append_result(out_dir, rid, row)
    return rid


def classify_dir(cfg) -> Path:
    return cfg.stage_dir("classify")


def run_grid(cfg, records: pd.DataFrame, runs: list[tuple], preset: dict | None = None, pretrained="auto",
             progress: bool = True, out_dir: Path | None = None, executor: str = "local", **ray_options) -> pd.DataFrame:
    """Run every run not yet in RUNS/classify/results.csv; returns the full results table.
    Where (helpers.parallel): in this process; with preset.workers > 1 on a CPU, in that many
    processes of one math thread; on a GPU, preset.workers runs at a time (None: four) in
    processes sharing it; with `executor="ray"`, as Ray tasks (`ray_options`: address,
    cpus_per_cell, gpus_per_cell, num_cpus, max_retries). Every run appends its row under the
    store's lock, so a rerun skips finished runs wherever they ran."""
    preset = preset or PRESETS[cfg.profile]
    out_dir = Path(out_dir) if out_dir else classify_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = finished(out_dir)
    runs = list({run_id(r[0], r[1].name, r[2], r[3]): r for r in runs}.values())  # a run listed twice runs once
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
        parallel.run(jobs, backend, progress=progress and bool(jobs), desc="classifier grid", unit="run",
                     postfix=str)  # nothing to run: no empty bar
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted):  # a generator's training says where it stopped
            raise
        ids = {run_id(r[0], r[1].name, r[2], r[3]) for r in runs}
        raise Interrupted(f"interrupted: {len(ids & finished(out_dir))} of {len(ids)} runs finished and are kept in "
                          f"{out_dir / RESULTS}; run the same command to train the rest (a run cut short goes on "
                          "from its last epoch).") from None
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
    if str(cfg.device).startswith("cuda"):  # several runs share the GPU, each in its own process
        return parallel.gpu_processes(preset.workers, n_runs)
    workers = min(int(preset.workers or 1), n_runs)
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

