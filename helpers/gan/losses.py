"""The games the GANs play, written out.

Wasserstein (WGAN, WGAN-GP, cWGAN-GP): the critic f maximises E[f(real)] - E[f(fake)], an
estimate of the Wasserstein-1 distance when f is 1-Lipschitz; the generator minimises
-E[f(fake)]. Lipschitz is enforced either by clipping every critic weight to [-c, c] (WGAN)
or by the gradient penalty lambda * E[(||grad_x f(x_hat)||_2 - 1)^2] at random points x_hat
between real and fake images (WGAN-GP).

DCGAN: the original minimax game with a sigmoid discriminator, written with
BCE-with-logits (numerically stable): D minimises BCE(D(real), 1) + BCE(D(fake), 0); the
generator minimises BCE(D(fake), 1) (the "non-saturating" loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def critic_loss(score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
    """What the critic minimises: E[f(fake)] - E[f(real)] (minus the Wasserstein estimate)."""
    return score_fake.float().mean() - score_real.float().mean()


def generator_loss(score_fake: torch.Tensor) -> torch.Tensor:
    return -score_fake.float().mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x_hat = alpha * real + (1 - alpha) * fake, one alpha per image."""
    return alpha * real + (1 - alpha) * fake


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels=None,
                     generator: torch.Generator | None = None, alpha: torch.Tensor | None = None,
                     return_norm: bool = False):
    """E[(||grad_x critic(x_hat)||_2 - 1)^2] over x_hat between `real` and `fake` (Gulrajani
    et al. 2017). `alpha` (N, 1, 1, 1) is drawn uniformly from `generator` unless given.
    With return_norm, also returns the mean gradient norm (for the history)."""
    n = real.shape[0]
    if alpha is None:
        alpha = torch.rand(n, 1, 1, 1, generator=generator)
    alpha = alpha.to(device=real.device, dtype=real.dtype, non_blocking=True)  # drawn on the CPU: no wait
    x_hat = interpolate(real.detach(), fake.detach(), alpha).requires_grad_(True)
    score = critic(x_hat) if labels is None else critic(x_hat, labels)
    (grad,) = torch.autograd.grad(score.float().sum(), x_hat, create_graph=True)
    norms = grad.float().flatten(1).norm(2, dim=1)
    penalty = ((norms - 1.0) ** 2).mean()
    return (penalty, norms.mean().detach()) if return_norm else penalty


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """WGAN's crude Lipschitz constraint: every parameter clamped to [-c, c] after each step."""
    for p in module.parameters():
        p.clamp_(-c, c)


def bce_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    lr, lf = logits_real.float(), logits_fake.float()
    return (F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
            + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))


def bce_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    lf = logits_fake.float()
    return F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))
