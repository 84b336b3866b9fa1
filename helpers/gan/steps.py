"""One training step of each GAN, as plain functions of a `GanRun` (helpers.gan.core).

These are the package's copies of cells written in the notebooks: notebook 03 writes the
WGAN step (critic updates with weight clipping or a gradient penalty, then a generator
update), 04 the DCGAN step, 05 the conditional WGAN-GP step. A notebook passes its own
function to the trainer (`pipeline.train(..., step=wgan_step)`), so a change made there
trains the model shown; these copies run when no step is given (the command line, the
classifier grid). tests/test_notebook_steps.py fails when a notebook and this file differ;
`python -m helpers export` copies the notebooks' cells here.

A step returns its metrics (0-d tensors, or floats), one history row per step; the Trainer reads
the tensors back every few steps, so a step never waits for a GPU, and does the rest (resume,
history, grids, NaN and collapse guards, progress). One WGAN step (helpers.gan.losses writes
the games out):

    for t in 1..n_critic:                      # train the critic towards the W-1 distance
        x ~ real, z ~ N(0, I)
        L_D = mean f(G(z)) - mean f(x)  [+ lambda * GP]
        step D;  [clip every weight of D to [-c, c]]
    z ~ N(0, I);  L_G = -mean f(G(z));  step G

The conditional WGAN-GP runs the same step on (image, label) pairs; DCGAN's is one update each.
"""

from __future__ import annotations

import torch

from helpers.gan.core import GanRun, grad_norm, set_requires_grad
from helpers.gan.losses import (
    bce_discriminator_loss,
    bce_generator_loss,
    clip_weights,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from helpers.train.precision import autocast

__all__ = ["GanRun", "torch", "autocast", "bce_discriminator_loss", "bce_generator_loss", "clip_weights",
           "critic_loss", "generator_loss", "gradient_penalty", "grad_norm", "set_requires_grad"]


# ---- exported from the notebooks: edit the cells there, then `python -m helpers export` ----

# from notebooks/03_wgan.ipynb
def critic_step(run: GanRun) -> dict:
    """One critic update (steps 3-5 of the table); returns its metrics as tensors."""
    p = run.preset
    real, _ = run.batch(p.batch)
    z = run.noise(p.batch)
    with autocast(run.device):
        with torch.no_grad():  # the critic step trains the critic only: no gradient through G
            fake = run.G(z)
        real, fake = run.augment(real), run.augment(fake)  # DiffAugment when the preset asks for it
        # real and fake scored in two passes: one pass over both is no faster on a CPU and
        # would mix them in a batch-normed critic
        s_real, s_fake = run.D(real), run.D(fake)
        loss = critic_loss(s_real, s_fake)  # E f(fake) - E f(real)
        out = {"wasserstein": -loss.detach()}
        if p.gp_weight:  # WGAN-GP: + lambda E (||grad f(x_hat)|| - 1)^2
            gp, gnorm = gradient_penalty(run.D, real, fake, None, generator=run.gen, return_norm=True)
            loss = loss + p.gp_weight * gp
            out.update(gp=gp.detach(), critic_grad_x=gnorm)
    run.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_d.step()
    if p.clip:  # WGAN: clip every weight after the optimizer step
        clip_weights(run.D, p.clip)
    out["loss_d"] = loss.detach()
    return out


def generator_step(run: GanRun) -> dict:
    """One generator update (step 6): make the critic score generated images higher."""
    p = run.preset
    z = run.noise(p.batch)
    set_requires_grad(run.D, False)  # the critic is not trained here: skip its weight gradients
    try:
        with autocast(run.device):
            loss = generator_loss(run.D(run.augment(run.G(z))))  # -E f(G(z))
        run.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(run.G)
        run.opt_g.step()
    finally:
        set_requires_grad(run.D, True)
    run.after_generator_step()  # the generator's moving average, when the preset keeps one
    return {"loss_g": loss.detach(), "grad_norm_g": gn}


def wgan_step(run: GanRun) -> dict:
    """One training step: n_critic critic updates, then one generator update."""
    for i in range(run.preset.n_critic):
        out = critic_step(run)
        if i == run.preset.n_critic - 1:
            out["grad_norm_d"] = grad_norm(run.D)
    out.update(generator_step(run))
    return out  # tensors: the Trainer reads them back every few steps, so the step never waits for a GPU


# from notebooks/04_dcgan.ipynb
def dcgan_step(run: GanRun) -> dict:
    """One DCGAN step: a discriminator update, then a generator update on the same fakes."""
    p = run.preset
    real, _ = run.batch(p.batch)
    z = run.noise(p.batch)
    # the discriminator: BCE(D(real), 1) + BCE(D(fake), 0), fakes detached from G
    with autocast(run.device):
        fake = run.G(z)  # one forward pass serves both updates
        logits_real, logits_fake = run.D(run.augment(real)), run.D(run.augment(fake.detach()))
        loss_d = bce_discriminator_loss(logits_real, logits_fake)
    run.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    gn_d = grad_norm(run.D)
    run.opt_d.step()
    # the generator: the non-saturating loss BCE(D(fake), 1), through the updated D
    set_requires_grad(run.D, False)
    try:
        with autocast(run.device):
            loss_g = bce_generator_loss(run.D(run.augment(fake)))
        run.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        gn_g = grad_norm(run.G)
        run.opt_g.step()
    finally:
        set_requires_grad(run.D, True)
    run.after_generator_step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),  # tensors, read back by the Trainer
            "d_real": torch.sigmoid(logits_real.detach().float()).mean(),
            "d_fake": torch.sigmoid(logits_fake.detach().float()).mean(),
            "grad_norm_d": gn_d, "grad_norm_g": gn_g}


# from notebooks/05_cwgan.ipynb
def conditional_critic_step(run: GanRun) -> dict:
    """One critic update on (image, label) pairs: real images of class-balanced labels, and
    fakes made for the same labels."""
    p = run.preset
    real, y = run.batch(p.batch)  # a class drawn uniformly, then an image of it
    z = run.noise(p.batch)
    with autocast(run.device):
        with torch.no_grad():
            fake = run.G(z, y)
        real, fake = run.augment(real), run.augment(fake)
        s_real, s_fake = run.D(real, y), run.D(fake, y)  # the critic judges pairs
        loss = critic_loss(s_real, s_fake)
        out = {"wasserstein": -loss.detach()}
        if p.gp_weight:  # the penalty at points between real and fake, with the label held fixed
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


def conditional_generator_step(run: GanRun) -> dict:
    """One generator update for uniformly drawn labels."""
    p = run.preset
    y = torch.randint(run.n_classes, (p.batch,), generator=run.gen).to(run.device, non_blocking=True)
    z = run.noise(p.batch)
    set_requires_grad(run.D, False)
    try:
        with autocast(run.device):
            loss = generator_loss(run.D(run.augment(run.G(z, y)), y))
        run.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        gn = grad_norm(run.G)
        run.opt_g.step()
    finally:
        set_requires_grad(run.D, True)
    run.after_generator_step()
    return {"loss_g": loss.detach(), "grad_norm_g": gn}


def cwgan_step(run: GanRun) -> dict:
    """One conditional training step: n_critic critic updates, then one generator update."""
    for i in range(run.preset.n_critic):
        out = conditional_critic_step(run)
        if i == run.preset.n_critic - 1:
            out["grad_norm_d"] = grad_norm(run.D)
    out.update(conditional_generator_step(run))
    return out  # tensors, read back by the Trainer
