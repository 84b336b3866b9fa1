"""Wasserstein GANs: weight clipping (WGAN) and gradient penalty (WGAN-GP).

One generator step = `n_critic` critic steps, then one generator step (the step itself is
written in notebook 03 and copied to helpers.gan.steps):

    for t in 1..n_critic:                      # train the critic towards the W-1 distance
        x ~ real, z ~ N(0, I)
        L_D = mean f(G(z)) - mean f(x)  [+ lambda * GP]
        step D;  [clip every weight of D to [-c, c]]
    z ~ N(0, I);  L_G = -mean f(G(z));  step G

The conditional WGAN-GP (helpers.gan.cwgan) runs the same step with labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers.errors import SettingError
from helpers.gan.core import make_run, make_trainer
from helpers.gan.presets import GanPreset, get_preset
from helpers.gan.steps import (  # noqa: F401
    conditional_critic_step,
    critic_step,
    cwgan_step,
    generator_step,
    wgan_step,
)
from helpers.train.checkpoint import step_config
from helpers.train.loop import History


def prepare(kind: str, data, cfg, run_dir, steps=None, progress=True, seed=None, preset=None, labels=None,
            n_classes=0, desc=None, step=None, **changes) -> Callable[[], History]:
    """Set a run up (data on the device, networks built and seeded, the Trainer) and return the
    call that trains it: in the thread that starts trainings side by side, the models are built
    there and only the loops run in the workers (helpers.parallel)."""
    preset = preset if isinstance(preset, GanPreset) else get_preset(kind, cfg.profile, dataset=cfg.dataset, **changes)
    if kind in ("wgan-gp", "cwgan") and preset.critic_norm == "batch":
        raise SettingError("The gradient penalty is per image: use critic_norm 'none' or 'layer', not 'batch'.")
    steps = int(steps or preset.steps)
    seed = cfg.seed if seed is None else int(seed)
    run = make_run(preset, data, seed, cfg.device, labels=labels, n_classes=n_classes)
    default = cwgan_step if labels is not None else wgan_step
    step = step or default  # the training step: notebook 03's (05's for cwgan) unless one is given
    trainer = make_trainer(run, run_dir, steps, seed, desc or f"{kind} {Path(run_dir).name}", progress,
                           extra_config=step_config(step, default))
    return lambda: trainer.run(lambda i: step(run))


def train_wgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
               preset: GanPreset | None = None, step=None, **changes) -> History:
    """WGAN with weight clipping (RMSProp) on one class's images (uint8 (N, H, W) or [-1, 1]).
    `step(run) -> dict` is the training step (default: helpers.gan.steps.wgan_step)."""
    return prepare("wgan", data, cfg, run_dir, steps, progress, seed, preset, step=step, **changes)()


def train_wgan_gp(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                  preset: GanPreset | None = None, step=None, **changes) -> History:
    """WGAN-GP (Adam (0, 0.9), lambda 10, n_critic 5 by default) on one class's images."""
    return prepare("wgan-gp", data, cfg, run_dir, steps, progress, seed, preset, step=step, **changes)()
