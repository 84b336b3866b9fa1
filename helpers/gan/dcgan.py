"""DCGAN: the original minimax game, written with BCE-with-logits.

    x ~ real, z ~ N(0, I), fake = G(z)
    L_D = BCE(D(x), 1) + BCE(D(fake), 0);  step D
    L_G = BCE(D(fake), 1);                 step G   (the non-saturating generator loss)

D outputs a logit (no sigmoid layer); the sigmoid lives inside the loss, which is stable.
The step itself is written in notebook 04 and copied to helpers.gan.steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers.gan.core import make_run, make_trainer
from helpers.gan.presets import GanPreset, get_preset
from helpers.gan.steps import dcgan_step
from helpers.train.checkpoint import step_config
from helpers.train.loop import History


def train_dcgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                preset: GanPreset | None = None, step=None, **changes) -> History:
    """DCGAN (Adam 2e-4, beta1 0.5 by default) on one class's images (uint8 (N, H, W) or [-1, 1]).
    `step(run) -> dict` is the training step (default: helpers.gan.steps.dcgan_step, notebook 04's)."""
    return prepare_dcgan(data, cfg, run_dir, steps, progress, seed, preset, step, **changes)()


def prepare_dcgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                  preset: GanPreset | None = None, step=None, **changes) -> Callable[[], History]:
    """train_dcgan set up, not started: the call that trains it (see helpers.gan.wgan.prepare)."""
    preset = preset if isinstance(preset, GanPreset) else get_preset("dcgan", cfg.profile, dataset=cfg.dataset, **changes)
    steps = int(steps or preset.steps)
    seed = cfg.seed if seed is None else int(seed)
    run = make_run(preset, data, seed, cfg.device)
    step = step or dcgan_step
    trainer = make_trainer(run, run_dir, steps, seed, f"dcgan {Path(run_dir).name}", progress,
                           extra_config=step_config(step, dcgan_step))
    return lambda: trainer.run(lambda i: step(run))
