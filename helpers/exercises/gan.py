"""Checks for the GAN notebooks (03 WGAN, 04 DCGAN, 05 cWGAN): each compares a student's
function with helpers.gan's own on fixed inputs."""

from __future__ import annotations

import copy

import torch

from helpers.exercises import report
from helpers.gan.losses import (
    bce_discriminator_loss,
    bce_generator_loss,
    clip_weights,
    gradient_penalty,
)
from helpers.gan.nets import Critic


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
                  f"The shape is right but the values differ (max difference {float((got - want).abs().max()):.3g}): "
                  "the score is critic.score(h) plus the dot product of critic.embed(labels) with h.")
