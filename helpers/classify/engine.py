"""One classifier training: fit, predict, keep. The engine behind the experiment grid (notebook
08, `classify`), the protocol shortcuts (notebook 09, `pitfalls`) and the DDPM study's
protocol (notebook 06b, `ddpm-study`).

A `Recipe` says how a network is trained: architecture, epochs, one-cycle peak learning rate,
batch size, augmentation policy (`helpers.data.augment`, or "none"), ImageNet weights
("auto": only when already cached; True; False: random initialisation, so that every protocol
of notebook 09 starts from the same weights per seed) and a class-weighted loss.
`fit_predict` trains it on a table of training rows (real images, and synthetic ones read
through their manifests) and returns the class probabilities of the evaluation rows. Every
caller gets the same pipeline: `make_dataloaders` (ImageNet normalisation, batches by
indexing), `make_learner`, `fit_one_cycle`; fastai is imported before seeding
(`load_fastai`), so a run gives the same numbers in a fresh worker as in a notebook.

Each training owns a folder under `<stage>/runs/` (`runs_folder`):
    preds.csv        its predictions, written by the caller (`write_predictions`): what is
                     kept, since every table is recomputed from them
    history.csv      per-epoch train/valid loss and accuracy             (resume=True)
    checkpoint.pth   the last finished epoch, removed once predicted     (resume=True)
    model.pth        the trained weights, e.g. for Grad-CAM              (keep_model=True)
A folder with preds.csv (and model.pth when asked for) is a finished run (`has_predictions`):
callers read it back instead of training again. An interrupted run with resume=True restarts
from its last finished epoch.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.classify.data import class_weights, make_dataloaders
from helpers.classify.models import build_model, load_fastai, make_learner
from helpers.config import seed_everything

PREDS, HISTORY, MODEL = "preds.csv", "history.csv", "model.pth"
_CHECKPOINT, _STATE = "checkpoint", "checkpoint.json"  # fastai adds .pth to the first


@dataclass(frozen=True)
class Recipe:
    """How one classifier is trained (see the module's note)."""

    arch: str
    epochs: int
    lr: float
    bs: int
    augment: str = "none"
    pretrained: object = False  # "auto" | True | False
    class_weights: bool = True


@dataclass
class Fitted:
    """What a training gives back: probabilities (n_eval, k) in the evaluation rows' order, their
    labels, whether ImageNet weights were used, and the seconds spent fitting and predicting."""

    probs: np.ndarray
    labels: np.ndarray
    imagenet: bool
    seconds: float


def runs_folder(stage_dir) -> Path:
    """`<stage_dir>/runs/`, where every training's folder lives (a `cells/` folder of an
    earlier version is renamed, so its finished runs are kept)."""
    new, old = Path(stage_dir) / "runs", Path(stage_dir) / "cells"
    if old.is_dir() and not new.exists():
        try:
            old.rename(new)
        except OSError:  # another process renamed it first
            pass
    return new


def has_predictions(run_dir, keep_model: bool = False) -> bool:
    run_dir = Path(run_dir)
    return (run_dir / PREDS).exists() and (not keep_model or (run_dir / MODEL).exists())


def write_predictions(run_dir, preds: pd.DataFrame) -> Path:
    """preds.csv, written through a rename: a run interrupted while writing is not finished."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "preds.part.csv"
    preds.to_csv(tmp, index=False)
    return tmp.replace(run_dir / PREDS)


def load_model(run_dir, arch: str, n_classes: int) -> torch.nn.Module:
    """The trained network of a run fitted with keep_model=True (eval mode, on the CPU)."""
    model, _ = build_model(arch, n_classes, False)
    model.load_state_dict(torch.load(Path(run_dir) / MODEL, map_location="cpu", weights_only=True))
    return model.eval()


def _history_callback(path: Path, start_epoch: int = 0):
    from fastai.callback.core import Callback  # fastai is imported by load_fastai, before seeding

    class EpochLog(Callback):
        order = 60  # after the Recorder has written the epoch's log

        def after_epoch(self):
            if self.epoch < start_epoch:  # an epoch fastai skips when resuming
                return
            rec = self.learn.recorder
            names = [n.replace(" ", "_") for n in rec.metric_names[1:-1]]  # epoch, ..., time
            vals = dict(zip(names, rec.log[1:len(names) + 1]))
            row = dict(epoch=self.epoch + 1, **{k: float(v) if v is not None else np.nan for k, v in vals.items()})
            pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
            self.learn.save(_CHECKPOINT, with_opt=True)
            (path.parent / _STATE).write_text(json.dumps({"epochs_done": self.epoch + 1}))

    return EpochLog()


def _resume_point(learn, run_dir: Path) -> int:
    """Epochs already done (their weights and optimizer loaded into `learn`), history trimmed to them."""
    state, hist = run_dir / _STATE, run_dir / HISTORY
    done = json.loads(state.read_text())["epochs_done"] if state.exists() and (run_dir / f"{_CHECKPOINT}.pth").exists() else 0
    if done:
        learn.load(_CHECKPOINT, with_opt=True)
        if hist.exists():  # drop epochs logged after the checkpoint
            h = pd.read_csv(hist)
            h[h["epoch"] <= done].to_csv(hist, index=False)
    else:
        hist.unlink(missing_ok=True)
    return done


def fit_predict(cfg, recipe: Recipe, train: pd.DataFrame, evaluate: pd.DataFrame, seed: int,
                run_dir: Path | None = None, images: tuple | None = None, resume: bool = False,
                keep_model: bool = False, progress: bool = False) -> Fitted:
    """Train `recipe` on the rows of `train` (path, label, source) and predict `evaluate`.
    `images`: the (train, evaluate) uint8 arrays when already decoded, else read from disk
    (cached under cfg.cache_dir). `resume`: history.csv and a checkpoint per epoch in run_dir,
    and a restart from the last one; `keep_model`: the weights saved to run_dir/model.pth."""
    k = len(cfg.classes)
    load_fastai()  # before seeding: importing fastai draws from Python's random
    seed_everything(seed)
    dls = make_dataloaders(train, evaluate, cfg.size, recipe.augment, recipe.bs, cfg.cache_dir, cfg.device, seed,
                           images=images)
    w = class_weights(train["label"], k) if recipe.class_weights else None
    if run_dir is not None and (resume or keep_model):
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    learn = make_learner(dls, recipe.arch, k, recipe.pretrained, w, path=run_dir or ".")
    done, log_cb = 0, None
    if resume:
        done = _resume_point(learn, Path(run_dir))
        log_cb = _history_callback(Path(run_dir) / HISTORY, done)
        learn.add_cb(log_cb)
    t0 = time.perf_counter()
    ctx = [learn.no_logging()] + ([] if progress else [learn.no_bar()])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*epoch parameter.*")
        for c in ctx:
            c.__enter__()
        try:
            if done < recipe.epochs:
                learn.fit_one_cycle(recipe.epochs, recipe.lr, start_epoch=done)
            if log_cb is not None:
                learn.remove_cb(log_cb)
            probs, labels = learn.get_preds(dl=dls.valid)
        finally:
            for c in reversed(ctx):
                c.__exit__(None, None, None)
    seconds = time.perf_counter() - t0
    if keep_model:
        torch.save(learn.model.state_dict(), Path(run_dir) / MODEL)
    if resume:  # the predictions are what is kept
        (Path(run_dir) / f"{_CHECKPOINT}.pth").unlink(missing_ok=True)
        (Path(run_dir) / _STATE).unlink(missing_ok=True)
    return Fitted(probs.float().numpy(), labels.numpy(), bool(learn.used_imagenet_weights), seconds)
