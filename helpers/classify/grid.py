"""The experiment grid: architecture x data setting x fold x seed, resumable.

Data settings (the BUSI study's four columns, per generator):
    real              the real training part only
    real+trad         + traditional augmentation (`helpers.data.augment`)
    real+syn:G        + the synthetic set of generator G (class-balanced, as exported)
    real+trad+syn:G   both
and the DDPM study's scenario sweep `real+syn:G@n`: n synthetic images per class
(0 / 50 / 125 / 250; n = 0 is the `real` cell, so it is not trained twice).

Every cell trains on the training part of ONE fold (all other folds) and is scored on that
fold's real images. Generators for a fold are trained on that fold's training part only
(`helpers.generators.train_and_export(..., out_name=f"{G}-fold{k}")`), and
`helpers.classify.protocol.check_evaluation` proves it before anything is scored.
"Fold" SPLIT (-1) means the prepared train/val/test split instead: train on train + val, score
on test, with the generator the course's generator notebooks train on the train part
(`RUNS/synthetic/<G>/`, reused), which keeps the smoke and quick profiles to minutes.

Outputs under RUNS/classify/:
    results.csv              one row per finished cell (a rerun skips those cells)
    cells/<cell>/preds.csv   the cell's test predictions (recompute any CI or ROC from them)
    cells/<cell>/history.csv per-epoch train/valid loss and accuracy (training curves)
An interrupted cell restarts from its last finished epoch (checkpoint in the cell folder).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers import generators, parallel
from helpers.classify.data import class_weights, make_dataloaders, plain, training_table
from helpers.classify.metrics import HEADLINE, bootstrap
from helpers.classify.models import STUDY_TRAINING, load_fastai, make_learner
from helpers.classify.presets import PRESETS
from helpers.classify.protocol import check_evaluation
from helpers.config import seed_everything
from helpers.errors import SettingError
from helpers.parallel import Job, task
from helpers.quality.scoring import scoring_set
from helpers.synth import MANIFEST, read_trained_on, synthetic_dir

RESULTS = "results.csv"

GENERATOR_PREFERENCE = ("cwgan", "wgan", "wgan-gp", "dcgan", "ddpm")
SPLIT = -1  # the "fold" of the train/val/test split


def parts(records: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(real training records, evaluation records) of a fold, or of the split for SPLIT."""
    if fold == SPLIT:
        train, test = records[records["split"] != "test"], records[records["split"] == "test"]
    else:
        train, test = records[records["fold"] != fold], records[records["fold"] == fold]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def generator_records(records: pd.DataFrame, fold: int) -> pd.DataFrame:
    """What a generator for this fold trains on: the fold's training part (for SPLIT, the
    split's train part, exactly what the generator notebooks use)."""
    if fold == SPLIT:
        return records[records["split"] == "train"].reset_index(drop=True)
    return parts(records, fold)[0]


def fold_list(records: pd.DataFrame, folds) -> list[int]:
    """A preset's `folds` as fold ids: "split" -> [SPLIT], n -> the first n folds, None -> all."""
    all_folds = sorted(int(f) for f in records["fold"].unique())
    if folds == "split":
        return [SPLIT]
    return all_folds if folds is None else all_folds[: int(folds)]


@dataclass(frozen=True)
class Setting:
    """What a classifier trains on: augmentation policy and an optional synthetic set."""

    name: str
    augment: str = "none"
    generator: str | None = None
    per_class: int | None = None  # None: the whole (balanced) exported set

    @classmethod
    def parse(cls, name: str, augment: str = "busi_study") -> Setting:
        m = re.fullmatch(r"real(\+trad)?(?:\+syn:([\w.-]+)(?:@(\d+))?)?", name)
        if not m:
            raise SettingError(f"Unknown data setting {name!r}: use real, real+trad, real+syn:<generator>, "
                             "real+trad+syn:<generator> or real+syn:<generator>@<n per class>.")
        trad, gen, n = m.groups()
        if n is not None and int(n) == 0:
            return cls("real+trad" if trad else "real", augment if trad else "none")
        return cls(name, augment if trad else "none", gen, int(n) if n is not None else None)


def four_settings(generators=(), augment: str = "busi_study") -> list[Setting]:
    """The BUSI study's columns: none, traditional, GAN, traditional + GAN (per generator)."""
    names = ["real", "real+trad"] + [s for g in generators for s in (f"real+syn:{g}", f"real+trad+syn:{g}")]
    return [Setting.parse(n, augment) for n in names]


def scenario_settings(generator: str, per_class=(0, 50, 125, 250)) -> list[Setting]:
    """The DDPM study's sweep: n synthetic images per class added to the real training part."""
    return [Setting.parse(f"real+syn:{generator}@{n}") for n in per_class]


def available_generators(preference=GENERATOR_PREFERENCE) -> list[str]:
    """Registered generators whose code is importable, in order of preference."""
    out = []
    for name in preference:
        if name in generators.GENERATORS:
            try:
                importlib.import_module(generators.GENERATORS[name].split(":")[0])
                out.append(name)
            except ImportError:
                pass
    return out


def cell_id(arch: str, setting: str, fold: int, seed: int) -> str:
    return f"{arch}|{setting}|{'split' if fold == SPLIT else f'fold{fold}'}|seed{seed}"


def cell_dirname(cid: str) -> str:
    return re.sub(r"[^\w.@+-]+", "_", cid)


def classify_dir(cfg) -> Path:
    return cfg.stage_dir("classify")


def read_results(out_dir) -> pd.DataFrame:
    path = Path(out_dir) / RESULTS
    return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame(columns=["cell"])


def _append_result(out_dir: Path, row: dict) -> None:
    """Rewrite results.csv with the new row (atomic rename: an interrupted write loses nothing).
    A lock file lets several grid processes (e.g. one per fold) share one results file."""
    with _locked(out_dir / (RESULTS + ".lock")):
        df = pd.concat([read_results(out_dir), pd.DataFrame([row])], ignore_index=True)
        tmp = out_dir / (RESULTS + f".{os.getpid()}.part")
        df.to_csv(tmp, index=False)
        tmp.replace(out_dir / RESULTS)


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # Windows: one grid process at a time
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- synthetic sets per fold -----------------------------------------------------------------
def per_class_set(cfg, generator: str, fold: int, exported: Path, n_per_class: int, progress: bool = True) -> Path:
    """For the DDPM study's sweep ("+n images per class"): `n_per_class` images of *every* class
    drawn from the generator behind `exported` (a balancing set has none of the largest class),
    under RUNS/synthetic/<set>-per-class/, with the exported set's trained_on.csv."""
    name = Path(exported).parent.name
    return scoring_set(cfg, name, exported, n_per_class, progress=progress, seed_offset=2,
                       out=synthetic_dir(cfg.runs_dir, f"{name}-per-class"))


def fold_synthetic(cfg, generator: str, fold: int, train_records: pd.DataFrame, progress: bool = True,
                   steps: int | None = None) -> Path:
    """The manifest of `generator` trained on this fold's training part: reused from
    RUNS/synthetic/<G>-fold<k>/ when it was trained on exactly these images, else trained now."""
    out_name = generator if fold == SPLIT else f"{generator}-fold{fold}"
    manifest = synthetic_dir(cfg.runs_dir, out_name) / MANIFEST
    train_paths = {str(Path(p).resolve()) for p in train_records["path"]}
    if manifest.exists():
        try:
            if read_trained_on(manifest) <= train_paths:
                return manifest
        except Exception:  # no trained_on.csv: cannot be trusted, retrain
            pass
    return Path(generators.train_and_export(generator, cfg, train_records=train_records.reset_index(drop=True),
                                 out_name=out_name, steps=steps, progress=progress))


# -- one cell ---------------------------------------------------------------------------------
def _history_callback(path: Path, start_epoch: int = 0, ckpt_every: bool = True):
    from fastai.callback.core import Callback

    class EpochLog(Callback):
        order = 60  # after the Recorder has written the epoch's log

        def after_epoch(self):
            if self.epoch < start_epoch:  # an epoch fastai skips when resuming
                return
            rec = self.learn.recorder
            names = [n.replace(" ", "_") for n in rec.metric_names[1:-1]]  # epoch, ..., time
            vals = dict(zip(names, rec.log[1:len(names) + 1]))
            row = dict(epoch=self.epoch + 1, **{k: float(v) if v is not None else np.nan for k, v in vals.items()})
            header = not path.exists()
            pd.DataFrame([row]).to_csv(path, mode="a", header=header, index=False)
            if ckpt_every:
                self.learn.save("checkpoint", with_opt=True)
                (path.parent / "checkpoint.json").write_text(json.dumps({"epochs_done": self.epoch + 1}))

    return EpochLog()


def train_cell(cfg, arch: str, setting: Setting, fold: int, seed: int, records: pd.DataFrame, preset: dict,
               cell_dir: Path, manifest: Path | None, pretrained="auto", progress: bool = False) -> dict:
    """Train one classifier and score it on the fold's real images; returns the result row
    and writes preds.csv / history.csv into cell_dir."""
    classes = cfg.classes
    records = plain(records)
    train_real, test = parts(records, fold)
    manifests = [manifest] if manifest is not None else []
    table = training_table(train_real, manifests, setting.per_class)
    check_evaluation(test, table, manifests, all_records=records, dup_threshold=cfg.dup_threshold)

    study = STUDY_TRAINING.get(arch, {})
    epochs = int(preset.get("epochs") or study.get("epochs", 10))
    lr = float(preset.get("lr") or study.get("lr", 1e-3))
    bs = int(study.get("bs", preset["bs"]) if preset.get("epochs") is None else preset["bs"])
    load_fastai()  # before seeding: importing fastai draws from Python's random
    seed_everything(seed)
    dls = make_dataloaders(table, test, cfg.size, setting.augment, bs, cfg.cache_dir, cfg.device, seed)
    w = class_weights(table["label"], len(classes)) if preset.get("class_weights") else None
    cell_dir.mkdir(parents=True, exist_ok=True)
    learn = make_learner(dls, arch, len(classes), pretrained, w, path=cell_dir)

    hist = cell_dir / "history.csv"
    state = cell_dir / "checkpoint.json"
    done = json.loads(state.read_text())["epochs_done"] if state.exists() and (cell_dir / "checkpoint.pth").exists() else 0
    if done:
        learn.load("checkpoint", with_opt=True)
        if hist.exists():  # drop epochs logged after the checkpoint
            h = pd.read_csv(hist)
            h[h["epoch"] <= done].to_csv(hist, index=False)
    else:
        hist.unlink(missing_ok=True)
    t0 = time.perf_counter()
    log_cb = _history_callback(hist, done)
    learn.add_cb(log_cb)
    ctx = [learn.no_logging()] + ([] if progress else [learn.no_bar()])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*epoch parameter.*")
        for c in ctx:
            c.__enter__()
        try:
            if done < epochs:
                learn.fit_one_cycle(epochs, lr, start_epoch=done)
            learn.remove_cb(log_cb)
            probs, targs = learn.get_preds(dl=dls.valid)
        finally:
            for c in reversed(ctx):
                c.__exit__(None, None, None)
    seconds = time.perf_counter() - t0
    probs = probs.float().numpy()
    preds = pd.DataFrame(dict(path=test["path"], group=test["group"], label=targs.numpy(), fold=fold, seed=seed))
    for c, name in enumerate(classes):
        preds[f"p_{name}"] = probs[:, c]
    preds["pred"] = probs.argmax(1)
    preds.to_csv(cell_dir / "preds.csv", index=False)
    ci = bootstrap(preds["label"], probs, classes, n_boot=preset.get("n_boot", 1000), seed=seed,
                   groups=preds["group"]).set_index("metric")
    (cell_dir / "checkpoint.pth").unlink(missing_ok=True)  # the predictions are what we keep
    state.unlink(missing_ok=True)
    syn = table[table["source"] == "synthetic"]
    row = dict(arch=arch, setting=setting.name, generator=setting.generator or "",
               per_class=setting.per_class if setting.per_class is not None else "",
               augment=setting.augment, fold=fold, seed=seed, epochs=epochs, lr=lr, bs=bs,
               pretrained=bool(learn.used_imagenet_weights), n_train_real=len(train_real), n_train_synth=len(syn),
               n_test=len(test), seconds=round(seconds, 1), manifest=str(manifest or ""),
               device=str(cfg.device), threads=torch.get_num_threads())
    for m in HEADLINE:
        row[m], row[f"{m}_lo"], row[f"{m}_hi"] = ci.loc[m, "value"], ci.loc[m, "lo"], ci.loc[m, "hi"]
    return row


# -- the grid ---------------------------------------------------------------------------------
def plan(records: pd.DataFrame, archs, settings, folds=None, seeds=(0,)) -> list[tuple]:
    """Every (arch, setting, fold, seed) cell, settings' duplicates removed. Ordered fold by
    fold, so a grid stopped early leaves whole folds (every setting on the same test images)."""
    all_folds = sorted(int(f) for f in records["fold"].unique()) + [SPLIT]
    folds = all_folds[:-1] if folds is None else [f for f in folds if f in all_folds]
    uniq = list(dict.fromkeys(settings))
    return [(a, s, f, sd) for f in folds for sd in seeds for a in archs for s in uniq]


def run_grid(cfg, records: pd.DataFrame, cells: list[tuple], preset: dict | None = None, pretrained="auto",
             progress: bool = True, out_dir: Path | None = None, executor: str = "local", **ray_options) -> pd.DataFrame:
    """Run every cell not yet in RUNS/classify/results.csv; returns the full results table.
    Where (helpers.parallel): in this process; with preset['workers'] > 1 on a CPU, in that many
    processes of one math thread; with `executor="ray"`, as Ray tasks (`ray_options`: address,
    cpus_per_cell, gpus_per_cell, num_cpus, max_retries). Every cell appends its row under the
    file lock, so a rerun skips finished cells wherever they ran."""
    preset = dict(PRESETS[cfg.profile], **(preset or {}))
    out_dir = Path(out_dir) if out_dir else classify_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    finished = set(read_results(out_dir)["cell"])
    todo = [c for c in cells if cell_id(c[0], c[1].name, c[2], c[3]) not in finished]
    if len(todo) < len(cells):
        print(f"{len(cells) - len(todo)} of {len(cells)} cells already in {out_dir / RESULTS}; running {len(todo)}")
    backend = _backend(cfg, preset, executor, len(todo), ray_options)
    threads = torch.get_num_threads()
    if backend.kind == "inline" and preset.get("threads"):
        torch.set_num_threads(int(preset["threads"]))
    try:
        sets: dict = {}  # one synthetic-set job per (generator, fold), shared by its cells
        jobs = [task(_cell_task, cfg, records, cell, preset, pretrained, str(out_dir),
                     _set_job(cfg, records, todo, cell[1], cell[2], preset, sets, progress and backend.kind != "ray"))
                for cell in todo]
        parallel.run(jobs, backend, progress=progress, desc="classifier grid", unit="cell", postfix=str)
    finally:
        torch.set_num_threads(threads)
    return read_results(out_dir)


def _backend(cfg, preset: dict, executor: str, n_cells: int, ray_options: dict) -> parallel.Backend:
    if executor == "ray":
        o = dict(ray_options)
        cpus = int(o.pop("cpus_per_cell", None) or 1)
        return parallel.Backend("ray", cpus=cpus, threads=cpus, gpus=o.pop("gpus_per_cell", None), **o)
    if executor != "local":
        raise SettingError(f"Unknown executor {executor!r}; choose local or ray.")
    workers = min(int(preset.get("workers") or 1), n_cells)
    if workers > 1 and str(cfg.device) == "cpu":
        # small CPU models scale badly over threads, but two cells side by side use both cores
        return parallel.Backend("processes", workers=workers, threads=1)
    return parallel.INLINE


def _set_job(cfg, records, todo, setting, fold, preset, sets: dict, progress: bool) -> Job | None:
    """The job that makes the synthetic set a cell trains with (None for real-only): one per
    (generator, fold), and one more for the per-class sweep (the same n for every class, up to
    the largest n asked). A dependency of the cells (helpers.parallel): on Ray a task of its
    own, elsewhere made here before the cells train."""
    if not setting.generator:
        return None
    key = (setting.generator, fold)
    if key not in sets:
        sets[key] = Job(fold_synthetic, (cfg, setting.generator, fold, generator_records(records, fold)),
                        dict(progress=progress, steps=preset.get("gen_steps")), gpu_shares=2)
    if not setting.per_class:
        return sets[key]
    if (key, "per-class") not in sets:
        need = max(c[1].per_class or 0 for c in todo if c[1].generator == setting.generator)
        sets[(key, "per-class")] = Job(per_class_set, (cfg, setting.generator, fold, sets[key], need, progress),
                                       gpu_shares=2)
    return sets[(key, "per-class")]


def _cell_task(cfg, records, cell, preset, pretrained, out_dir: str, manifest) -> str:
    """Train one cell and append its row, wherever it runs; returns its id."""
    arch, setting, fold, seed = cell
    cid = cell_id(arch, setting.name, fold, seed)
    if cid in set(read_results(out_dir)["cell"]):
        return cid  # finished by an earlier attempt (a Ray task retried after its worker died)
    row = train_cell(cfg, arch, setting, fold, seed, records, preset, Path(out_dir) / "cells" / cell_dirname(cid),
                     manifest, pretrained, progress=False)
    _append_result(Path(out_dir), dict(cell=cid, **row))
    return cid


# The analysis of finished cells lives in helpers.classify.analysis (re-exported here).
from helpers.classify.analysis import (  # noqa: E402,F401
    all_metric_names,
    load_predictions,
    paired_table,
    pooled_table,
)
