"""One run of the experiment grid: guard, train, predict, score, record.

A run (architecture, data setting, fold, seed; `helpers.classify.settings`) trains the
classifier engine (resumable per epoch) on the fold's real training part plus its synthetic
set, scores it on the fold's real images with bootstrap 95% CIs over near-duplicate groups,
keeps preds.csv and history.csv in RUNS/classify/runs/<run>/, and appends its row to
RUNS/classify/results.csv. Every executor (this process, side-by-side processes, Ray) calls
`run_and_record`.

The store: a finished run appends its row under the package's one file lock
(`helpers.train.lock.run_lock`) and the file is rewritten through an atomic rename, so several
grid processes (side-by-side workers, Ray workers on a shared file system) share one file and
an interrupted write loses nothing. A run id already in the file is finished: a rerun skips
it. (A results.csv of an earlier version, with a `cell` column, is read as `run`.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from helpers.classify.data import plain, training_table
from helpers.classify.engine import Recipe, fit_predict, runs_folder, write_predictions
from helpers.classify.metrics import HEADLINE, bootstrap, ci_columns
from helpers.classify.models import STUDY_TRAINING
from helpers.classify.protocol import check_evaluation
from helpers.classify.settings import Setting, parts, run_dirname, run_id
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


def recipe(arch: str, preset: dict, augment: str = "none", pretrained="auto") -> Recipe:
    """The grid's training of `arch`: the preset's epochs, learning rate and batch size, or,
    where the preset leaves them open (paper), the architecture's study's own."""
    study = STUDY_TRAINING.get(arch, {})
    epochs = int(preset.get("epochs") or study.get("epochs", 10))
    lr = float(preset.get("lr") or study.get("lr", 1e-3))
    bs = int(study.get("bs", preset["bs"]) if preset.get("epochs") is None else preset["bs"])
    return Recipe(arch, epochs, lr, bs, augment, pretrained, bool(preset.get("class_weights")))


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
    fit = fit_predict(cfg, how, table, test, seed, folder, resume=True, progress=progress)
    preds = pd.DataFrame(dict(path=test["path"], group=test["group"], label=fit.labels, fold=fold, seed=seed))
    for c, name in enumerate(classes):
        preds[f"p_{name}"] = fit.probs[:, c]
    preds["pred"] = fit.probs.argmax(1)
    write_predictions(folder, preds)
    ci = bootstrap(preds["label"], fit.probs, classes, n_boot=preset.get("n_boot", 1000), seed=seed,
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
    if rid in finished(out_dir):
        return rid  # finished by an earlier attempt
    row = train_run(cfg, arch, setting, fold, seed, records, preset, run_dir(out_dir, rid), manifest, pretrained,
                    progress=progress)
    append_result(out_dir, rid, row)
    return rid
