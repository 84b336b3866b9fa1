"""What one batch and one generator step cost on this machine, measured through the code that
trains them (for `classify --plan`).

A classifier batch is timed through `helpers.classify.engine.fit_predict` itself: the fastai
Learner with its optimiser, channels_last, the course's augmentation and, on a GPU, bf16, on
random images of the run's size. A training of n batches costs a fixed part (building the
network and the loaders) plus n batch costs, so three short trainings give the parts: one
batch, 1 + m training batches, and 1 + m evaluation batches (evaluated twice: after the epoch
and for the predictions), each the fastest of REPEATS; m grows until the extra batches stand
clearly above the fixed part (a tiny network's batch costs a few milliseconds). A first training
before them pays for allocation, kernel selection and compilation, which a grid pays once per
architecture. A generator step is timed the same way through the training loop the course
runs (`helpers.gan.pipeline.prepare_run`, `helpers.ddpm.pipeline.train_ddpm`: autocast, the
DDPM's EMA, the Trainer's bookkeeping), as the difference between a training of 1 + m steps and one of 1 (m = 1 on a CPU, where one
step of a paper preset takes seconds, after no warm-up).

On a CPU a paper preset's full batch can need more memory than the machine has (the paper
DDPM's batch of 64 at 128 px took over 23 GB): it is timed on at most CPU_TIMING_BATCH images
and scaled by batch / timed (a step's cost grows about linearly with its batch there).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.classify.engine import Recipe, fit_predict
from helpers.ddpm.pipeline import train_ddpm
from helpers.ddpm.presets import preset as ddpm_preset
from helpers.flow.pipeline import train_flow
from helpers.flow.presets import preset as flow_preset
from helpers.gan.pipeline import prepare_run
from helpers.gan.presets import get_preset

CPU_TIMING_BATCH = 4
# Each classifier training is timed this many times and the fastest kept: on a loaded machine one
# timing of the tiny network's batch can vanish under the noise of the fixed part.
REPEATS = 3
MAX_BATCHES = 128  # the most extra batches a classifier timing grows to (a tiny network's are cheap)
# Per-run speed when 4 runs share a GPU: 8 ResNet18 runs ran 2.98x faster 4 at a time than one
# at a time on an H200 (benchmarks/ray_packing.py), each at 0.75 of its speed alone. No
# architecture is assumed to pack better; `packing_efficiency` measures how much worse each does.
PACKING_EFFICIENCY = 0.75
PACKED_RUNS = 4


def on_gpu(device) -> bool:
    return str(device).startswith("cuda")


def _timed(fn, device) -> float:
    t0 = time.perf_counter()
    fn()
    if on_gpu(device):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    shape = (n, size, size) + ((3,) if channels == 3 else ())
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


@dataclass(frozen=True)
class RunCost:
    """Seconds of one classifier run's parts at its batch size."""

    train: float     # one training batch
    evaluate: float  # one evaluation batch (forward only)
    fixed: float     # building the network and the loaders, once per run


def time_fit(cfg, arch: str, batch: int, augment: str, train_batches: int, eval_batches: int,
             compile: bool | str | None = None) -> float:
    """Seconds of one `fit_predict` epoch of `arch` on `train_batches` batches of random images,
    evaluated on `eval_batches` batches (ImageNet weights off: they change no cost; `compile` as
    the grid's preset says)."""
    k = len(cfg.classes)
    val_bs = batch * 4 if on_gpu(cfg.device) else batch  # as helpers.classify.data.make_dataloaders
    n_tr, n_ev = batch * train_batches, val_bs * eval_batches
    tables = [pd.DataFrame(dict(label=np.arange(n) % k)) for n in (n_tr, n_ev)]
    images = (_images(n_tr, cfg.size, cfg.channels), _images(n_ev, cfg.size, cfg.channels, 1))
    how = Recipe(arch, epochs=1, lr=1e-3, bs=batch, augment=augment, pretrained=False)
    return _timed(lambda: fit_predict(cfg, how, tables[0], tables[1], 0, images=images, compile=compile), cfg.device)


def time_classifier(cfg, arch: str, batch: int, augment: str = "none", m: int | None = None,
                    compile: bool | str | None = None) -> RunCost:
    """The parts of a run of `arch` at `batch` (see the module's note)."""
    gpu = on_gpu(cfg.device)
    timed, m = (batch if gpu else min(batch, CPU_TIMING_BATCH)), m or (5 if gpu else 2)

    def fit(tr, ev):
        return time_fit(cfg, arch, timed, augment, tr, ev, compile)

    def best(tr, ev):  # the fastest of a few: a busy machine only ever adds time (as timeit)
        return min(fit(tr, ev) for _ in range(REPEATS))

    fit(1, 1)  # warm-up
    base = best(1, 1)
    while True:  # as time_generator_step: more batches until they clearly stand out from the fixed part
        extra = best(1 + m, 1) - base
        if extra > 0.25 * base or m >= MAX_BATCHES:
            break
        m *= 4
    train = max(0.0, extra) / m
    evaluate = max(0.0, best(1, 1 + m) - base) / (2 * m)
    scale = batch / timed
    return RunCost(train * scale, evaluate * scale, max(0.0, base - train - 2 * evaluate))


def packing_efficiency(cfg, arch: str, batch: int, runs: int = PACKED_RUNS, compile: bool | str | None = None) -> float:
    """Each run's speed, relative to alone, when `runs` runs of `arch` share one GPU: about the
    time of one batch over that of a `runs`-times larger one (the packed runs' work together;
    a network that already fills the GPU gains nothing), at most PACKING_EFFICIENCY (what
    ResNet18 reached). 1 on a CPU, where runs are not packed."""
    if not on_gpu(cfg.device) or runs <= 1:
        return 1.0
    one = time_classifier(cfg, arch, batch, compile=compile).train
    big = time_classifier(cfg, arch, batch * runs, compile=compile).train
    return float(min(PACKING_EFFICIENCY, max(1.0 / runs, one / big if big > 0 else 1.0)))


def _gan_training(kind: str, cfg, n_classes: int, steps: int, timed: int, folder: Path):
    """The training call of one GAN model, its networks already built (as a grid's job does)."""
    x = _images(max(timed, 8), cfg.size, cfg.channels)
    data = (x, np.arange(len(x)) % n_classes) if kind == "cwgan" else x
    return prepare_run(kind, data, cfg, folder, steps=steps, progress=False, seed=0,
                       n_classes=n_classes if kind == "cwgan" else 0, batch=timed, sample_every=10 ** 6,
                       checkpoint_every=10 ** 6)


def _ddpm_training(cfg, n_classes: int, steps: int, timed: int, folder: Path):
    """The DDPM's whole training call (it builds its own U-Net: the same in every timed call)."""
    p = ddpm_preset(cfg.profile).with_(batch=timed, steps=steps, sample_every=10 ** 6, checkpoint_every=10 ** 6,
                                       ddim_steps=1, grid_per_class=1)
    x = _images(max(timed, 8), cfg.size, cfg.channels)
    return lambda: train_ddpm(x, np.arange(len(x)) % n_classes, folder, p, n_classes, device=cfg.device, seed=0,
                              progress=False)


def _flow_training(cfg, n_classes: int, steps: int, timed: int, folder: Path):
    """Flow matching's whole training call (notebook 06's U-Net, its own loss), as the DDPM's."""
    p = flow_preset(cfg.profile).with_(batch=timed, steps=steps, sample_every=10 ** 6, checkpoint_every=10 ** 6,
                                       sampler="euler", nfe=1, grid_per_class=1)
    x = _images(max(timed, 8), cfg.size, cfg.channels)
    return lambda: train_flow(x, np.arange(len(x)) % n_classes, folder, p, n_classes, device=cfg.device, seed=0,
                              progress=False)


TRAININGS = {"ddpm": (ddpm_preset, _ddpm_training), "flow": (flow_preset, _flow_training)}  # the U-Net's two


def time_generator_step(name: str, cfg, n_classes: int, m: int | None = None) -> float:
    """Seconds per training step of one model of generator `name` at its preset's batch for
    cfg's profile and data set (see the module's note)."""
    gpu = on_gpu(cfg.device)
    full = TRAININGS[name][0](cfg.profile).batch if name in TRAININGS else \
        get_preset(name, cfg.profile, dataset=cfg.dataset).batch
    timed, m = (full if gpu else min(full, CPU_TIMING_BATCH)), m or (10 if gpu else 1)

    def run(steps):
        with tempfile.TemporaryDirectory(prefix="plan-") as tmp:  # a fresh run folder: nothing to resume
            make = TRAININGS[name][1] if name in TRAININGS else (lambda *a: _gan_training(name, *a))
            return _timed(make(cfg, n_classes, steps, timed, Path(tmp) / "run"), cfg.device)

    if gpu:
        run(1)  # warm-up: kernel selection, compilation (a CPU step of a paper preset takes seconds: skipped)
    base = run(1)
    # The steps' cost is the difference of two timed runs, which setup noise can swamp for a cheap
    # step: time more steps until they clearly stand out (a paper step on a CPU does at once).
    while True:
        extra = run(1 + m) - base
        if extra > 0.25 * base or m >= 256:
            return max(extra, 1e-6) / m * full / timed
        m *= 4
