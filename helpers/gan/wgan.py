"""Wasserstein GANs: weight clipping (WGAN) and gradient penalty (WGAN-GP).

One generator step = `n_critic` critic steps, then one generator step:

    for t in 1..n_critic:                      # train the critic towards the W-1 distance
        x ~ real, z ~ N(0, I)
        L_D = mean f(G(z)) - mean f(x)  [+ lambda * GP]
        step D;  [clip every weight of D to [-c, c]]
    z ~ N(0, I);  L_G = -mean f(G(z));  step G

The conditional WGAN-GP (helpers.gan.cwgan) runs the same step with labels.
"""

from __future__ import annotations

from pathlib import Path

import torch

from helpers.errors import SettingError
from helpers.gan.core import GanRun, grad_norm, make_run, make_trainer, set_requires_grad
from helpers.gan.losses import clip_weights, critic_loss, generator_loss, gradient_penalty
from helpers.gan.presets import GanPreset, get_preset
from helpers.train.loop import History, autocast


def critic_step(run: GanRun) -> dict:
    """One critic update; returns its metrics as tensors (turned into floats once per step)."""
    p = run.preset
    real, y = run.batch(p.batch)
    z = run.noise(p.batch)
    with autocast(run.device):
        with torch.no_grad():  # the critic step needs no gradient through G
            fake = run.G(z, y) if y is not None else run.G(z)
        # real and fake scored in two passes: one pass over both batches is no faster on CPU
        # and would mix them in a batch-normed critic
        s_real = run.D(real, y) if y is not None else run.D(real)
        s_fake = run.D(fake, y) if y is not None else run.D(fake)
        loss = critic_loss(s_real, s_fake)
        out = {"wasserstein": -loss.detach()}
        if p.gp_weight:
            gp, gnorm = gradient_penalty(run.D, real, fake, y, generator=run.gen, return_norm=True)
            loss = loss + p.gp_weight * gp
            out.update(gp=gp.detach(), critic_grad_x=gnorm)
    run.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_d.step()
    if p.clip:
        clip_weights(run.D, p.clip)
    out["loss_d"] = loss.detach()
    return out


def generator_step(run: GanRun) -> dict:
    p = run.preset
    y = None
    if run.labels is not None:  # class-balanced labels for the generator too
        y = torch.randint(run.n_classes, (p.batch,), generator=run.gen).to(run.device)
    z = run.noise(p.batch)
    set_requires_grad(run.D, False)  # no critic gradients needed here
    try:
        with autocast(run.device):
            fake = run.G(z, y) if y is not None else run.G(z)
            loss = generator_loss(run.D(fake, y) if y is not None else run.D(fake))
        run.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(run.G)
        run.opt_g.step()
    finally:
        set_requires_grad(run.D, True)
    run.after_generator_step()
    return {"loss_g": loss.detach(), "grad_norm_g": gn}


def wasserstein_step_fn(run: GanRun):
    def step_fn(step: int) -> dict:
        for i in range(run.preset.n_critic):
            out = critic_step(run)
            if i == run.preset.n_critic - 1:
                out["grad_norm_d"] = grad_norm(run.D)
        out.update(generator_step(run))
        return {k: float(v) for k, v in out.items()}
    return step_fn


def _train(kind: str, data, cfg, run_dir, steps, progress, seed, preset, labels=None, n_classes=0,
           desc=None, **changes) -> History:
    preset = preset if isinstance(preset, GanPreset) else get_preset(kind, cfg.profile, **changes)
    if kind in ("wgan-gp", "cwgan") and preset.critic_norm == "batch":
        raise SettingError("The gradient penalty is per image: use critic_norm 'none' or 'layer', not 'batch'.")
    steps = int(steps or preset.steps)
    seed = cfg.seed if seed is None else int(seed)
    run = make_run(preset, data, seed, cfg.device, labels=labels, n_classes=n_classes)
    trainer = make_trainer(run, run_dir, steps, seed, desc or f"{kind} {Path(run_dir).name}", progress)
    return trainer.run(wasserstein_step_fn(run))


def train_wgan(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
               preset: GanPreset | None = None, **changes) -> History:
    """WGAN with weight clipping (RMSProp) on one class's images (uint8 (N, H, W) or [-1, 1])."""
    return _train("wgan", data, cfg, run_dir, steps, progress, seed, preset, **changes)


def train_wgan_gp(data, cfg, run_dir, steps: int | None = None, progress: bool = True, seed: int | None = None,
                  preset: GanPreset | None = None, **changes) -> History:
    """WGAN-GP (Adam (0, 0.9), lambda 10, n_critic 5 by default) on one class's images."""
    return _train("wgan-gp", data, cfg, run_dir, steps, progress, seed, preset, **changes)
