"""Checks for the GAN notebooks (03 WGAN, 04 DCGAN, 05 cWGAN): each compares a student's
function with helpers.gan's own on fixed inputs."""

from __future__ import annotations

import copy

import torch

from helpers.exercises import report
from helpers.gan.core import make_run, set_requires_grad
from helpers.gan.losses import (
    bce_discriminator_loss,
    bce_generator_loss,
    clip_weights,
    critic_loss,
    gradient_penalty,
    interpolate,
)
from helpers.gan.nets import Critic
from helpers.gan.presets import get_preset


def _critic(seed: int = 0, **kw) -> Critic:
    torch.manual_seed(seed)
    return Critic(32, width=4, **kw)


def check_clip_weights(fn) -> bool:
    """fn(module, c) clamps every parameter of `module` to [-c, c] in place."""
    mine = _critic(norm="batch")
    with torch.no_grad():
        for p in mine.parameters():
            p.normal_(0, 0.05)
    theirs = copy.deepcopy(mine)
    clip_weights(mine, 0.01)
    fn(theirs, 0.01)
    bad = [n for (n, a), (_, b) in zip(mine.named_parameters(), theirs.named_parameters()) if not torch.equal(a, b)]
    return report(not bad, "weight clipping matches helpers.gan.losses.clip_weights",
                  f"These parameters differ: {bad[:5]}. Every parameter (weights, biases, norm scales) "
                  "is clamped to [-c, c], in place.")


def check_gradient_penalty(fn) -> bool:
    """fn(critic, real, fake, alpha) -> E[(||grad_x critic(x_hat)||_2 - 1)^2], x_hat = alpha real + (1 - alpha) fake."""
    critic = _critic(1)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(6, 1, 32, 32, generator=g) * 2 - 1, torch.rand(6, 1, 32, 32, generator=g) * 2 - 1
    alpha = torch.rand(6, 1, 1, 1, generator=g)
    want = gradient_penalty(critic, real, fake, alpha=alpha)
    got = fn(critic, real, fake, alpha)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return report(False, "gradient penalty", f"Return one scalar tensor; got {type(got).__name__}.")
    ok = torch.allclose(got.float(), want, rtol=1e-4, atol=1e-6)
    if ok and not got.requires_grad:
        return report(False, "gradient penalty", "The value is right but it has no gradient: the critic must be "
                      "trained through it, so use torch.autograd.grad(..., create_graph=True).")
    return report(ok, "gradient penalty matches helpers.gan.losses.gradient_penalty",
                  f"Got {float(got.detach()):.6f}, expected {float(want.detach()):.6f}. Norm per image over all pixels, "
                  "then the mean of (norm - 1)^2.")


def check_dcgan_losses(d_loss, g_loss) -> bool:
    """d_loss(logits_real, logits_fake) and g_loss(logits_fake): the DCGAN game with logits."""
    g = torch.Generator().manual_seed(0)
    lr_, lf = torch.randn(16, generator=g) * 3, torch.randn(16, generator=g) * 3
    ok_d = torch.allclose(torch.as_tensor(d_loss(lr_, lf)).float(), bce_discriminator_loss(lr_, lf), atol=1e-5)
    ok_g = torch.allclose(torch.as_tensor(g_loss(lf)).float(), bce_generator_loss(lf), atol=1e-5)
    report(ok_d, "discriminator loss matches helpers.gan.losses.bce_discriminator_loss",
           "D's loss is BCE(D(real), 1) + BCE(D(fake), 0), on logits (binary_cross_entropy_with_logits).")
    return report(ok_g, "generator loss matches helpers.gan.losses.bce_generator_loss",
                  "The non-saturating generator loss is BCE(D(fake), 1).")


def check_projection_score(fn) -> bool:
    """fn(critic, x, labels) -> the conditional critic's score from its parts:
    w . h + embed(y) . h with h = critic.features(x).flatten(1)."""
    torch.manual_seed(2)
    critic = Critic(32, width=4, n_classes=3)
    with torch.no_grad():
        critic.embed.weight.normal_(0, 0.5)
    x, y = torch.randn(5, 1, 32, 32), torch.tensor([0, 1, 2, 1, 0])
    want = critic(x, y)
    got = fn(critic, x, y)
    what = "projection critic score matches helpers.gan.nets.Critic"
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return report(False, what, f"Return one score per image, a tensor of shape {tuple(want.shape)}; got {shape}.")
    if torch.allclose(got, critic.score(critic.features(x).flatten(1)).squeeze(1), atol=1e-5):
        return report(False, what, "This is the unconditional part only: add the dot product of "
                      "critic.embed(labels) with h for each image.")
    return report(torch.allclose(got, want, atol=1e-5), what,
                  f"The shape is right but the values differ (max difference {float((got - want).detach().abs().max()):.3g}): "
                  "the score is critic.score(h) plus the dot product of critic.embed(labels) with h.")


# -- exercises that change the training step (notebooks 03, 04, 05) --------------------------

def _twin_runs(kind: str, conditional: bool = False):
    """Two identical small runs (same weights, data and random stream) to compare steps on."""
    p = get_preset(kind, "smoke").with_(batch=8, n_critic=1)
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(24, 32, 32, generator=g) * 255).to(torch.uint8).numpy()
    labels = (torch.arange(24) % 3).numpy() if conditional else None
    return [make_run(p, x, seed=3, device="cpu", labels=labels, n_classes=3 if conditional else 0) for _ in range(2)]


def _same_critic(a, b) -> bool:
    return all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.D.parameters(), b.D.parameters()))


def _reference_one_sided(run) -> dict:
    p = run.preset
    real, _ = run.batch(p.batch)
    z = run.noise(p.batch)
    with torch.no_grad():
        fake = run.G(z)
    loss = critic_loss(run.D(real), run.D(fake))
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=run.gen)
    x_hat = interpolate(real.detach(), fake.detach(), alpha).requires_grad_(True)
    (grad,) = torch.autograd.grad(run.D(x_hat).float().sum(), x_hat, create_graph=True)
    loss = loss + p.gp_weight * (grad.flatten(1).norm(2, dim=1) - 1).clamp(min=0).square().mean()
    run.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_d.step()
    return {"loss_d": loss.detach()}


def check_one_sided_critic_step(fn) -> None:
    """fn(run) -> dict: one critic update with the penalty lambda * E[max(0, ||grad f(x_hat)|| - 1)^2]."""
    mine, theirs = _twin_runs("wgan-gp")
    want = _reference_one_sided(mine)
    got = fn(theirs)
    what = "one-sided penalty critic step"
    if not isinstance(got, dict) or "loss_d" not in got:
        return report(False, what, "Return the metrics dict, with 'loss_d' as in critic_step.")
    if not torch.allclose(torch.as_tensor(got["loss_d"]).float(), want["loss_d"].float(), atol=1e-4):
        return report(False, what, f"loss_d is {float(got['loss_d']):.5f}, expected {float(want['loss_d']):.5f}: "
                      "draw the batch, the noise and alpha in that order from run.gen (as critic_step and "
                      "gradient_penalty do), and clamp (norm - 1) at 0 before squaring.")
    return report(_same_critic(mine, theirs), what, "The loss is right but the critic's weights after the step "
                  "differ: call zero_grad, backward and run.opt_d.step() once, and do not clip.")


def _reference_hinge(run) -> dict:
    p = run.preset
    real, _ = run.batch(p.batch)
    z = run.noise(p.batch)
    fake = run.G(z)
    lr_, lf = run.D(real), run.D(fake.detach())
    loss_d = torch.relu(1 - lr_.float()).mean() + torch.relu(1 + lf.float()).mean()
    run.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    run.opt_d.step()
    set_requires_grad(run.D, False)
    loss_g = -run.D(fake).float().mean()
    run.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    run.opt_g.step()
    set_requires_grad(run.D, True)
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}


def check_hinge_step(fn) -> None:
    """fn(run) -> dict: dcgan_step with hinge losses for D and G."""
    mine, theirs = _twin_runs("dcgan")
    want = _reference_hinge(mine)
    got = fn(theirs)
    what = "hinge-loss DCGAN step"
    for k in ("loss_d", "loss_g"):
        if not isinstance(got, dict) or k not in got:
            return report(False, what, f"Return dcgan_step's metrics dict (with {k!r}).")
        if abs(float(got[k]) - want[k]) > 1e-4:
            hint = ("E relu(1 - D(real)) + E relu(1 + D(fake)) on the logits" if k == "loss_d"
                    else "minus the mean logit D gives the fakes (after D's update)")
            return report(False, what, f"{k} is {float(got[k]):.5f}, expected {want[k]:.5f}: {hint}.")
    same_g = all(torch.allclose(p, q, atol=1e-5) for p, q in zip(mine.G.parameters(), theirs.G.parameters()))
    return report(_same_critic(mine, theirs) and same_g, what,
                  "The losses are right but the weights after the step differ: update D first, then G, once each.")


def check_data_mix_steps(critic_fn, generator_fn) -> None:
    """critic_fn(run), generator_fn(run): the conditional steps with batches and generator labels
    drawn uniformly over images (the data's class mix) instead of uniformly over classes."""
    mine, theirs = _twin_runs("cwgan", conditional=True)
    # rig the data: one image of class 0, the rest of classes 1 and 2, so that drawing over images
    # and drawing over classes give different batches
    for run in (mine, theirs):
        run.labels = torch.tensor([0] + [1] * 11 + [2] * 12)
        run.gen.manual_seed(11)
    got = critic_fn(theirs)
    what = "critic step with batches drawn over images"
    if not isinstance(got, dict) or "loss_d" not in got:
        return report(False, what, "Return the metrics dict, with 'loss_d'.")
    p = mine.preset
    idx = torch.randint(len(mine.x), (p.batch,), generator=mine.gen)
    real, y = mine.x[idx], mine.labels[idx]
    z = mine.noise(p.batch)
    with torch.no_grad():
        fake = mine.G(z, y)
    loss = critic_loss(mine.D(real, y), mine.D(fake, y))
    if p.gp_weight:
        loss = loss + p.gp_weight * gradient_penalty(mine.D, real, fake, y, generator=mine.gen)
    loss = loss.detach()
    if abs(float(got["loss_d"]) - float(loss)) > 1e-4:
        return report(False, what, f"loss_d is {float(got['loss_d']):.5f}, expected {float(loss):.5f}: draw idx = "
                      "torch.randint(len(run.x), (batch,), generator=run.gen) first, then the noise, and use "
                      "run.x[idx] with its labels run.labels[idx].")
    report(True, what)
    theirs.gen.manual_seed(12)
    out = generator_fn(theirs)
    theirs.gen.manual_seed(12)
    want_y = theirs.labels[torch.randint(len(theirs.x), (p.batch,), generator=theirs.gen)]
    ok = isinstance(out, dict) and "loss_g" in out and (want_y != 0).sum() >= p.batch - 2
    return report(ok, "generator step with labels drawn like the data",
                  "Return conditional_generator_step's metrics; draw the labels as run.labels[idx] for idx uniform "
                  "over all images.")
