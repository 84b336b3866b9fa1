"""One training run of notebook 09 (and of notebook 06b): guarded, cached, scored under one or more views.

A run trains the protocol's classifier on `train` and predicts every image of its `views`: an
evaluation set and the shortcut it takes each. Before anything is trained, `check_evaluation`
checks every view; an honest view must pass it unchanged, a leaky view passes only with its
shortcut named (`leak`), and the violations let through are written into each prediction row
(`guard`, `violations`). The same model can so be reported on real test images (honest) and
on a test set holding synthetic images (the DDPM study's protocol).

The training is the grid's classifier engine (`helpers.classify.engine`) with no augmentation
and no ImageNet weights (every protocol starts from the same weights per seed). Images are
decoded once per dataset (`ImageBank`); predictions are cached under RUNS/pitfalls/runs/, in a
folder named by a hash of everything that defines the run, so a rerun only trains what changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from helpers import parallel
from helpers.classify.data import TRAIN_COLUMNS, load_table
from helpers.classify.engine import (
    Recipe,
    fit_predict,
    has_predictions,
    runs_folder,
    write_predictions,
)
from helpers.classify.engine import load_model as load_weights
from helpers.classify.protocol import check_evaluation, protocol_name


@dataclass
class View:
    """An evaluation set and the shortcut (if any) it takes, reported as `name`."""

    name: str
    records: pd.DataFrame
    leak: str | None = None


@dataclass
class Job:
    """What one run trains on and how it is reported. `meta` (fold, repeat, ...) is copied
    into every prediction row."""

    train: pd.DataFrame
    views: list
    seed: int = 0
    manifests: tuple = ()
    all_records: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)
    keep_model: bool = False
    tag: str = "run"


class ImageBank:
    """uint8 images by path at one size, decoded once per table (cached on disk)."""

    def __init__(self, size: int, cache_dir=None):
        self.size, self.cache_dir, self.index, self.parts = size, cache_dir, {}, []

    def add(self, table: pd.DataFrame) -> None:
        new = table[~table["path"].astype(str).isin(self.index)].drop_duplicates("path")
        if len(new):
            arr = load_table(new.reset_index(drop=True), self.size, self.cache_dir)
            base = sum(len(p) for p in self.parts)
            self.parts.append(arr)
            self.index.update({str(p): base + i for i, p in enumerate(new["path"])})

    def get(self, paths) -> np.ndarray:
        if len(self.parts) > 1:
            self.parts = [np.concatenate(self.parts)]
        return self.parts[0][[self.index[str(p)] for p in paths]]


PIPELINE = 2  # bump when the training itself changes: cached runs are then trained again


def _key(cfg, preset: dict, job: Job) -> str:
    spec = dict(pipeline=PIPELINE, arch=preset.arch, epochs=preset.epochs, lr=preset.lr, bs=preset.bs, size=cfg.size,
                dataset=cfg.dataset, seed=job.seed, train=[f"{p}|{lab}" for p, lab in zip(job.train["path"],
                                                                                          job.train["label"])],
                views=[(v.name, v.leak, list(map(str, v.records["path"]))) for v in job.views],
                manifests=[str(m) for m in job.manifests], meta=job.meta, **({"tta": True} if preset.tta else {}))
    return hashlib.sha1(json.dumps(spec, default=str).encode()).hexdigest()[:12]


def runs_dir(cfg) -> Path:
    return runs_folder(cfg.stage_dir("pitfalls"))


def recipe(preset: dict) -> Recipe:
    """The protocols' training: the preset's network and budget, random weights, no augmentation."""
    return Recipe(preset.arch, int(preset.epochs), float(preset.lr), int(preset.bs), tta=bool(preset.tta))


def check_views(cfg, job: Job) -> list:
    """The guard on every view (raises ProtocolError for anything not named), with the
    dataset's own near-duplicate threshold, as the grid's guard (mammograms: 0.995)."""
    return [check_evaluation(v.records, job.train, job.manifests, all_records=job.all_records, leak=v.leak,
                             dup_threshold=cfg.dup_threshold) for v in job.views]


def run_dir(cfg, preset: dict, job: Job) -> Path:
    return runs_dir(cfg) / f"{job.tag}-{_key(cfg, preset, job)}"


def _cached(cfg, preset: dict, job: Job) -> bool:
    return has_predictions(run_dir(cfg, preset, job), job.keep_model)


def _evaluated(job: Job) -> pd.DataFrame:
    return pd.concat([v.records for v in job.views], ignore_index=True).drop_duplicates("path")


def _train(cfg, preset: dict, job: Job, bank: ImageBank) -> tuple[np.ndarray, float]:
    """(probabilities of the job's evaluated images, seconds): the training itself."""
    evaluated = _evaluated(job)
    bank.add(job.train)
    bank.add(evaluated)
    t0 = time.perf_counter()
    fit = fit_predict(cfg, recipe(preset), job.train, evaluated, job.seed, run_dir(cfg, preset, job),
                      images=(bank.get(job.train["path"]), bank.get(evaluated["path"])), keep_model=job.keep_model)
    return fit.probs, time.perf_counter() - t0


def run_one(cfg, preset: dict, job: Job, bank: ImageBank | None = None, guards: list | None = None,
            trained: tuple | None = None) -> pd.DataFrame:
    """Guard, train (or read the cached result), predict: one row per (view, image) with its
    guard, violations, p_<class>, pred, correct, seed and the job's meta. `guards` and
    `trained` (probabilities, seconds) when `run_jobs`' process pool computed them."""
    guards = check_views(cfg, job) if guards is None else guards
    folder = run_dir(cfg, preset, job)
    if _cached(cfg, preset, job):
        return pd.read_csv(folder / "preds.csv")
    classes = cfg.classes
    evaluated = _evaluated(job)
    probs, seconds = trained if trained is not None else _train(cfg, preset, job, bank or ImageBank(cfg.size, cfg.cache_dir))
    p_of = dict(zip(evaluated["path"].astype(str), probs))
    out = []
    for v, found in zip(job.views, guards):
        r = v.records.reset_index(drop=True)
        p = np.stack([p_of[str(x)] for x in r["path"]])
        d = pd.DataFrame(dict(view=v.name, guard=protocol_name(v.leak), violations="; ".join(map(str, found)),
                              path=r["path"].astype(str), image=r["image"] if "image" in r else r["path"].astype(str),
                              group=r["group"].astype(str) if "group" in r else r["path"].astype(str),
                              label=r["label"].astype(int), source=r["source"].astype(str)))
        for c, name in enumerate(classes):
            d[f"p_{name}"] = p[:, c]
        d["pred"] = p.argmax(1)
        d["correct"] = (d["pred"] == d["label"]).astype(int)
        d["seed"] = job.seed
        for k, val in job.meta.items():
            d[k] = val
        d["n_train_real"] = int((job.train["source"].astype(str) != "synthetic").sum())
        d["n_train_synth"] = int((job.train["source"].astype(str) == "synthetic").sum())
        d["seconds"] = round(seconds, 1)
        out.append(d)
    preds = pd.concat(out, ignore_index=True)
    write_predictions(folder, preds)
    return preds


def load_model(cfg, preset: dict, job: Job) -> torch.nn.Module:
    """The trained network of a job run with keep_model=True (eval mode, on the CPU)."""
    return load_weights(run_dir(cfg, preset, job), preset.arch, len(cfg.classes))


def run_jobs(cfg, preset: dict, jobs: list, bank: ImageBank | None = None, progress: bool = True,
             desc: str = "runs") -> pd.DataFrame:
    """Run (or read back) every job; a progress bar counts them. Returns all predictions.
    With preset.workers > 1 on a CPU, the runs still to train go to that many processes
    of preset.threads math threads each, after every guard has passed here; a run's
    numbers do not depend on where it ran, since the thread count is the preset's."""
    bank = bank or ImageBank(cfg.size, cfg.cache_dir)
    threads = torch.get_num_threads()
    if preset.threads:
        torch.set_num_threads(int(preset.threads))
    workers = int(preset.workers or 1)
    try:
        todo = [i for i, job in enumerate(jobs) if not _cached(cfg, preset, job)]
        guards, trained = {}, {}
        if workers > 1 and len(todo) > 1 and str(cfg.device) == "cpu":
            guards = {i: check_views(cfg, jobs[i]) for i in todo}  # nothing trains before every view passes
            trained = _train_in_processes(cfg, preset, {i: jobs[i] for i in todo}, workers, progress, desc)
        return pd.concat([run_one(cfg, preset, job, bank, guards.get(i), trained.get(i))
                          for i, job in enumerate(tqdm(jobs, desc=desc, unit="run", disable=not progress or bool(trained)))],
                         ignore_index=True) if jobs else pd.DataFrame()
    finally:
        torch.set_num_threads(threads)


_WORKER_BANK: dict = {}


def _worker_train(cfg, preset: dict, job: Job) -> tuple[np.ndarray, float]:
    bank = _WORKER_BANK.setdefault((cfg.size, str(cfg.cache_dir)), ImageBank(cfg.size, cfg.cache_dir))
    return _train(cfg, preset, job, bank)


def _train_in_processes(cfg, preset: dict, jobs: dict, workers: int, progress: bool, desc: str) -> dict:
    """{index: (probabilities, seconds)} for `jobs`, trained in `workers` spawned processes of
    preset.threads math threads, kept between calls: notebook 09 runs a few at a time, and
    starting two workers (importing torch and fastai) costs about as much as training three
    quick runs (helpers.parallel)."""
    backend = parallel.Backend("processes", workers=workers, threads=int(preset.threads or 1), keep=True)
    return parallel.run({i: parallel.task(_worker_train, cfg, preset, job) for i, job in jobs.items()}, backend,
                        progress=progress, desc=desc, unit="run")


def table_rows(records: pd.DataFrame) -> pd.DataFrame:
    """Records reduced to what a training table needs (plus `image`, the original path)."""
    cols = TRAIN_COLUMNS + [c for c in ("image",) if c in records]
    return records[cols].reset_index(drop=True)
