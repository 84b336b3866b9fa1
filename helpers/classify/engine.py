"""One classifier training: fit, predict, keep. The engine behind the experiment grid (notebook
08, `classify`), the protocol shortcuts (notebook 09, `pitfalls`) and the DDPM study (06b).

A `Recipe` says how a network is trained (architecture, epochs, one-cycle peak learning rate,
batch, augmentation policy, ImageNet weights: "auto" only when cached, False for notebook 09's
same-weights-per-seed protocols, class-weighted loss). `fit_predict` trains it on real and
synthetic rows and returns the probabilities of the evaluation rows, through one pipeline:
`make_dataloaders`, `make_learner`, `fit_one_cycle`; fastai is imported before seeding
(`load_fastai`), so a run gives the same numbers in a fresh worker as in a notebook. On a GPU
the running loss and accuracy stay on the device (`keep_on_device`: fastai's own averages copy
every batch's loss to the host, which makes it wait for the GPU each batch). The optimizer is
fastai's Adam in multi-tensor steps (`helpers.classify.optim`, the same numbers); on a GPU the
training forward is compiled once per architecture (`helpers.classify.compiled`) and training
batches are augmented whole on the device (`helpers.data.augment.BatchAugment`).

Each training owns a folder under `<stage>/runs/`:
    preds.csv        its predictions (`write_predictions`): every table is recomputed from them
    history.csv      per-epoch train/valid loss and accuracy             (resume=True)
    checkpoint.pth   the last saved epoch, removed once predicted        (resume=True)
                     (and checkpoint.pth.prev, checkpoint.json: helpers.classify.resume)
    model.pth        the trained weights, e.g. for Grad-CAM              (keep_model=True)
A folder with preds.csv (and model.pth when asked for) is finished (`has_predictions`); an
interrupted run with resume=True restarts from its last finished epoch and ends exactly as an
uninterrupted one (`helpers.classify.resume`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.classify import fastai_quiet  # noqa: F401  (before fastai, whose import warns)

# isort: split
from fastai.learner import AvgLoss, AvgMetric, AvgSmoothLoss
from fastai.torch_core import find_bs

from helpers.classify.compiled import compile_training, use_compile
from helpers.classify.data import class_weights, make_dataloaders
from helpers.classify.models import build_model
from helpers.classify.optim import adam
from helpers.classify.resume import EpochCheckpoint, checkpoint_interval
from helpers.config import seed_everything

PREDS, HISTORY, MODEL = "preds.csv", "history.csv", "model.pth"


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
    tta: bool = False  # average each evaluation image's probabilities with its mirror image's


@torch.no_grad()
def mirrored_probs(model: torch.nn.Module, ds, bs: int) -> torch.Tensor:
    """Class probabilities of the evaluation images mirrored left-right (test-time augmentation:
    a lesion on the left is the same lesion on the right, in ultrasound and in tissue alike)."""
    model.eval()
    x = ds.batch(torch.arange(len(ds)))[0]
    out = [torch.softmax(model(x[i:i + bs].flip(-1).contiguous(memory_format=torch.channels_last)).float(), 1)
           for i in range(0, len(x), bs)]
    return torch.cat(out).cpu() if out else torch.zeros(0)


@dataclass
class Fitted:
    """What a training gives back: probabilities (n_eval, k) in the evaluation rows' order, their
    labels, whether ImageNet weights were used, and the seconds spent fitting and predicting."""

    probs: np.ndarray
    labels: np.ndarray
    imagenet: bool
    seconds: float


def load_fastai() -> None:
    """Import every fastai module the classifiers use. Call it BEFORE seeding: importing fastai
    draws from Python's `random`, which fastai's DataLoaders seed their shuffling from, so a
    run seeded first would shuffle differently in a fresh process than the same run later."""
    import fastai.callback.progress  # noqa: F401
    import fastai.callback.schedule  # noqa: F401
    import fastai.data.core  # noqa: F401
    import fastai.learner  # noqa: F401


class DeviceSmoothLoss(AvgSmoothLoss):
    """fastai's debiased exponentially weighted training loss, kept on the device."""

    def accumulate(self, learn):
        self.count += 1
        loss = learn.loss.detach().float().mean()
        self.val = torch.lerp(loss, self.val.to(loss.device, non_blocking=True), self.beta)


class DeviceAvgLoss(AvgLoss):
    """fastai's validation loss averaged over images, kept on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total = self.total + learn.loss.detach().float().mean() * bs
        self.count += bs


class DeviceAvgMetric(AvgMetric):
    """fastai's batch-averaged metric (accuracy), kept on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total = self.total + self.func(learn.pred, *learn.yb).detach().float() * bs
        self.count += bs


def keep_on_device(learn):
    """Swap a Learner's loss and metric averages for the on-device ones (read once per epoch)."""
    rec = learn.recorder
    rec.smooth_loss = DeviceSmoothLoss(beta=rec.smooth_loss.beta)
    rec.loss = DeviceAvgLoss()
    learn.metrics = [DeviceAvgMetric(m.func) if type(m) is AvgMetric else m for m in learn.metrics]
    return learn


def make_learner(dls, arch: str, n_classes: int, pretrained="auto", weights: torch.Tensor | None = None,
                 path=".", wd: float = 1e-4, optimizer: str = "foreach", compile: bool | str | None = None):
    """A fastai Learner: Adam, cross-entropy (optionally class-weighted), accuracy metric.
    `optimizer`: "foreach" (fastai's Adam in multi-tensor steps) or "fastai" (one tensor at a
    time); the same numbers (helpers.classify.optim). `compile`: the training forward through
    torch.compile, once per architecture (None: on a GPU only; a string: torch.compile's backend;
    helpers.classify.compiled)."""
    load_fastai()  # adds Learner.no_bar and Learner.fit_one_cycle
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy

    model, used = build_model(arch, n_classes, pretrained)
    # NHWC: tensor cores prefer it, and so do the CPU's convolution kernels (about 18 % less CPU
    # time per batch for resnet18_small at 64 px, measured); the batches come in NHWC too
    model = model.to(memory_format=torch.channels_last)
    if use_compile(compile, dls.device):
        compile_training(model, **(dict(backend=compile) if isinstance(compile, str) else {}))
    loss = CrossEntropyLossFlat(weight=weights.to(dls.device) if weights is not None else None)
    learn = Learner(dls, model, loss_func=loss, opt_func=adam(optimizer), metrics=[accuracy], path=Path(path),
                    model_dir=".", wd=wd)
    if str(dls.device).startswith("cuda"):  # bf16 needs no loss scaling
        import fastai.callback.fp16  # noqa: F401  (adds Learner.to_bf16)

        learn = keep_on_device(learn.to_bf16())
    learn.used_imagenet_weights = used
    return learn


def runs_folder(stage_dir) -> Path:
    """`<stage_dir>/runs/` (an earlier version's `cells/` is renamed, its finished runs kept)."""
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


def fit_predict(cfg, recipe: Recipe, train: pd.DataFrame, evaluate: pd.DataFrame, seed: int,
                run_dir: Path | None = None, images: tuple | None = None, resume: bool = False,
                keep_model: bool = False, progress: bool = False, checkpoint_every: int | None = None,
                compile: bool | str | None = None) -> Fitted:
    """Train `recipe` on the rows of `train` (path, label, source) and predict `evaluate`.
    `images`: the (train, evaluate) uint8 arrays when already decoded, else read from disk
    (cached under cfg.cache_dir). `resume`: history.csv per epoch and a checkpoint every
    `checkpoint_every` epochs in run_dir (None: helpers.classify.resume.checkpoint_interval), and a
    restart from the last one; `keep_model`: the weights saved to run_dir/model.pth; `compile`:
    see make_learner."""
    k = len(cfg.classes)
    load_fastai()  # before seeding: importing fastai draws from Python's random
    seed_everything(seed)
    dls = make_dataloaders(train, evaluate, cfg.size, recipe.augment, recipe.bs, cfg.cache_dir, cfg.device, seed,
                           images=images)
    w = class_weights(train["label"], k) if recipe.class_weights else None
    if run_dir is not None and (resume or keep_model):
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    learn = make_learner(dls, recipe.arch, k, recipe.pretrained, w, path=run_dir or ".", compile=compile)
    done, log_cb = 0, None
    if resume:
        log_cb = EpochCheckpoint(run_dir, dict(recipe=asdict(recipe), seed=seed, n_train=len(train),
                                               n_eval=len(evaluate)),
                                 every=checkpoint_interval(checkpoint_every, cfg.device))
        done = log_cb.resume(learn)
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
                log_cb.finish()
            probs, labels = learn.get_preds(dl=dls.valid)
            if recipe.tta:
                probs = (probs + mirrored_probs(learn.model, dls.valid.dataset, recipe.bs)) / 2
        finally:
            for c in reversed(ctx):
                c.__exit__(None, None, None)
    seconds = time.perf_counter() - t0
    if keep_model:
        torch.save(learn.model.state_dict(), Path(run_dir) / MODEL)
    if resume:  # the predictions are what is kept
        log_cb.remove()
    return Fitted(probs.float().numpy(), labels.numpy(), bool(learn.used_imagenet_weights), seconds)
