"""Class-conditional WGAN-GP: one model for all classes.

The generator gets noise plus a learned label embedding; the critic scores (image, label)
with a projection term. Real batches are class-balanced (a class is drawn uniformly, then an
image of it), so the minority classes get as many updates as the majority one. The
gradient-penalty weight is a parameter: the cWGAN study swept it (gamma 0.5 - 6.55).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers.gan.presets import GanPreset
from helpers.gan.wgan import prepare
from helpers.train.loop import History


def train_cwgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                preset: GanPreset | None = None, n_classes: int = 0, step=None, **changes) -> History:
    """`data` = (images, labels): uint8 (N, H, W) (or [-1, 1] floats) and integer class ids.
    `step(run) -> dict` is the training step (default: helpers.gan.steps.cwgan_step)."""
    return prepare_cwgan(data, cfg, run_dir, steps, progress, seed, preset, n_classes, step, **changes)()


def prepare_cwgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                  preset: GanPreset | None = None, n_classes: int = 0, step=None,
                  **changes) -> Callable[[], History]:
    """train_cwgan set up, not started: the call that trains it (see helpers.gan.wgan.prepare)."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError("train_cwgan needs data=(images, labels).")
    images, labels = data
    return prepare("cwgan", images, cfg, run_dir, steps, progress, seed, preset, labels=np.asarray(labels),
                  n_classes=n_classes, desc=f"cwgan {Path(run_dir).name}", step=step, **changes)
