"""DCGAN: the original minimax game, written with BCE-with-logits.

    x ~ real, z ~ N(0, I), fake = G(z)
    L_D = BCE(D(x), 1) + BCE(D(fake), 0);  step D
    L_G = BCE(D(fake), 1);                 step G   (the non-saturating generator loss)

D outputs a logit (no sigmoid layer); the sigmoid lives inside the loss, which is stable.
"""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.gan.core import GanRun, grad_norm, make_run, make_trainer, set_requires_grad
from helpers.gan.losses import bce_discriminator_loss, bce_generator_loss
from helpers.gan.presets import GanPreset, get_preset
from helpers.train.loop import History, autocast


def dcgan_step_fn(run: GanRun):
    p = run.preset

    def step_fn(step: int) -> dict:
        real, _ = run.batch(p.batch)
        z = run.noise(p.batch)
        with autocast(run.device):
            fake = run.G(z)  # one forward serves both updates
            logits_real, logits_fake = run.D(real), run.D(fake.detach())
            loss_d = bce_discriminator_loss(logits_real, logits_fake)
        run.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        gn_d = grad_norm(run.D)
        run.opt_d.step()

        set_requires_grad(run.D, False)
        try:
            with autocast(run.device):
                loss_g = bce_generator_loss(run.D(fake))
            run.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            gn_g = grad_norm(run.G)
            run.opt_g.step()
        finally:
            set_requires_grad(run.D, True)
        run.after_generator_step()
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
                "d_real": float(torch.sigmoid(logits_real.detach().float()).mean()),
                "d_fake": float(torch.sigmoid(logits_fake.detach().float()).mean()),
                "grad_norm_d": gn_d, "grad_norm_g": gn_g}

    return step_fn


def train_dcgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                preset: GanPreset | None = None, **changes) -> History:
    """DCGAN (Adam 2e-4, beta1 0.5 by default) on one class's images (uint8 (N, H, W) or [-1, 1])."""
    preset = preset if isinstance(preset, GanPreset) else get_preset("dcgan", cfg.profile, **changes)
    steps = int(steps or preset.steps)
    seed = cfg.seed if seed is None else int(seed)
    run = make_run(preset, data, seed, cfg.device)
    trainer = make_trainer(run, run_dir, steps, seed, f"dcgan {Path(run_dir).name}", progress)
    return trainer.run(dcgan_step_fn(run))
