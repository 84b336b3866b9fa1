"""The classifier grid's settings per profile (notebook 08, `python -m helpers classify`).

`archs` x data setting x `folds` x `seeds` runs, each trained for `epochs` at batch `bs` and
one-cycle peak `lr`; None for epochs / lr (paper) means each architecture's own study's.
`folds`: "split" (the prepared train/test split), n (the first n folds) or None (every fold).
`scenario`: the DDPM study's sweep (synthetic images per class), on its first
`scenario_folds` folds (None: all). `workers` runs train side by side in processes on a CPU,
one math thread each; `threads` math threads otherwise (None: torch's choice).

On `paper`, `classify` runs each study's own experiment by default
(`helpers.classify.study_designs`: its architectures, folds and seeds replace the preset's);
the preset's architectures, every fold and 3 seeds make the cross product of `--design cross`
(2,880 runs). Both share its batch, study recipes (epochs / lr None), n_boot and augmentation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from helpers.presets import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Preset, Rule, Table

# Runs train side by side on a CPU with this many cores or more (one math thread each).
CPU_WORKERS = 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass(frozen=True)
class GridPreset(Preset):
    archs: tuple[str, ...]
    folds: int | str | None  # "split", n first folds, or None for every fold
    seeds: tuple[int, ...]
    epochs: int | None  # None: the architecture's study's own
    bs: int
    lr: float | None  # None: the architecture's study's own
    n_boot: int
    augment: str = "busi_study"  # traditional augmentation policy (helpers.data.augment.POLICIES)
    scenario: tuple[int, ...] = (0, 50, 125, 250)
    scenario_folds: int | None = None
    class_weights: bool = True
    threads: int | None = None
    workers: int | None = None
    gen_steps: int | None = None  # generator steps per fold (None: the generator's preset)
    tta: bool = False  # predict each test image and its mirror image (helpers.classify.engine)
    checkpoint_every: int | None = None  # epochs between checkpoints (None: 1 on a CPU, 5 on a GPU)
    torch_compile: bool | None = None  # compile the training forward (None: on a GPU only)

    RULES = {
        "folds": Rule(lo=1, choices=("split",)), "seeds": NON_NEGATIVE, "epochs": POSITIVE_INT, "bs": POSITIVE_INT,
        "lr": POSITIVE, "n_boot": POSITIVE_INT, "scenario": NON_NEGATIVE, "scenario_folds": POSITIVE_INT,
        "threads": POSITIVE_INT, "workers": POSITIVE_INT, "gen_steps": POSITIVE_INT,
        "checkpoint_every": POSITIVE_INT,
    }
    STAGE = "The classifier grid"


PRESETS = Table("the classifier grid", {
    "smoke": GridPreset(archs=("tiny",), folds="split", seeds=(0,), epochs=1, bs=16, lr=3e-3, n_boot=200,
                        augment="busi_study", scenario=(0, 5, 10), scenario_folds=1, class_weights=True,
                        threads=1),  # tiny tensors: a second thread only adds overhead
    # quick: the BUSI study's from-scratch CNN at 1/8 width, long enough to learn, each test image
    # also seen mirrored. Measured on the phantom (train+val -> test, no augmentation, one core,
    # splits 0/1/2 x network seeds 0/1): 24 epochs at batch 64 (lr 6e-3) mean 0.734, lowest 95%
    # bound 0.559 (under the largest class's 0.562) for 7.5 CPU-s a run; 30 epochs at batch 32
    # (lr 3e-3) mean 0.750, lowest bound 0.612, 9.5 CPU-s; 40 at batch 32 0.767, 0.631, 13 CPU-s.
    "quick": GridPreset(archs=("tiny",), folds="split", seeds=(0,), epochs=30, bs=32, lr=3e-3, n_boot=1000,
                        augment="busi_study", scenario=(0, 50, 125, 250), scenario_folds=1, class_weights=True,
                        workers=CPU_WORKERS, tta=True),  # runs side by side, one thread each (see helpers.classify.grid)
    "paper": GridPreset(archs=("vgg16_bn", "resnet50", "mobilenet_v2", "efficientnet_v2_s", "densenet201",
                               "inception_v3", "alexnet_style", "fusion"), folds=None, seeds=(0, 1, 2), epochs=None,
                        bs=32, lr=None, n_boot=2000, augment="busi_study", scenario=(0, 50, 125, 250),
                        scenario_folds=None, class_weights=True),
})
