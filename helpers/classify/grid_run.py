"""One run of the experiment grid: guard, train, predict, score, record.

A run (architecture, data setting, fold, seed; `helpers.classify.settings`) trains the
classifier engine (`helpers.classify.engine`, with the setting's augmentation, ImageNet weights
when available, class-weighted loss, resumable per epoch) on the fold's real training part plus
its synthetic set, scores it on the fold's real images with bootstrap 95% CIs over
near-duplicate groups, and writes into its folder RUNS/classify/runs/<run>/:
    preds.csv     the run's test predictions (recompute any CI or ROC from them)
    history.csv   per-epoch train/valid loss and accuracy (training curves)
Its row then goes to results.csv (`helpers.classify.store`). Every executor (this process,
side-by-side processes, Ray) calls `run_and_record`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from helpers.classify.data import plain, training_table
from helpers.classify.engine import Recipe, fit_predict, runs_folder, write_predictions
from helpers.classify.metrics import HEADLINE, bootstrap
from helpers.classify.models import STUDY_TRAINING
from helpers.classify.protocol import check_evaluation
from helpers.classify.settings import Setting, parts, run_dirname, run_id
from helpers.classify.store import append_result, finished


def recipe(arch: str, preset: dict, augment: str = "none", pretrained="auto") -> Recipe:
    """The grid's training of `arch`: the preset's epochs, learning rate and batch size, or,
    where the preset leaves them open (paper), the architecture's study's own."""
    study = STUDY_TRAINING.get(arch, {})
    epochs = int(preset.epochs or study.get("epochs", 10))
    lr = float(preset.lr or study.get("lr", 1e-3))
    bs = int(study.get("bs", preset.bs) if preset.epochs is None else preset.bs)
    return Recipe(arch, epochs, lr, bs, augment, pretrained, bool(preset.class_weights))


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
    ci = bootstrap(preds["label"], fit.probs, classes, n_boot=preset.n_boot, seed=seed,
                   groups=preds["group"]).set_index("metric")
    syn = table[table["source"] == "synthetic"]
    row = dict(arch=arch, setting=setting.name, generator=setting.generator or "",
               per_class=setting.per_class if setting.per_class is not None else "",
               augment=setting.augment, fold=fold, seed=seed, epochs=how.epochs, lr=how.lr, bs=how.bs,
               pretrained=fit.imagenet, n_train_real=len(train_real), n_train_synth=len(syn),
               n_test=len(test), seconds=round(fit.seconds, 1), manifest=str(manifest or ""),
               device=str(cfg.device), threads=torch.get_num_threads())
    for m in HEADLINE:
        row[m], row[f"{m}_lo"], row[f"{m}_hi"] = ci.loc[m, "value"], ci.loc[m, "lo"], ci.loc[m, "hi"]
    return row


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
