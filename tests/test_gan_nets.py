"""GAN networks and losses: shapes, the gradient penalty on hand-computed cases, clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers.gan.losses import (
    bce_discriminator_loss,
    clip_weights,
    critic_loss,
    generator_loss,
    gradient_penalty,
)
from helpers.gan.nets import Critic, Generator


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_shapes(size, norm):
    g, d = Generator(size, latent=16, width=4), Critic(size, width=4, norm=norm)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, 1, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output, the range real images are scaled to
    assert d(x).shape == (3,)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_conditional_shapes(size):
    g, d = Generator(size, latent=8, width=4, n_classes=3), Critic(size, width=4, n_classes=3)
    y = torch.tensor([0, 1, 2, 1])
    x = g(torch.randn(4, 8), y)
    assert x.shape == (4, 1, size, size) and d(x, y).shape == (4,)
    with pytest.raises(ValueError, match="conditional"):
        g(torch.randn(4, 8))


@pytest.mark.parametrize("size", [32, 64, 128])
def test_resize_generator_shapes_and_layers(size):
    g = Generator(size, latent=8, width=4, upsample="resize")
    assert g(torch.randn(2, 8)).shape == (2, 1, size, size)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert sum(isinstance(m, nn.Upsample) for m in g.modules()) == int(math.log2(size)) - 2
    with pytest.raises(ValueError, match="upsampling"):
        Generator(32, upsample="bilinear-ish")


def test_resize_generator_has_no_checkerboard_at_initialisation():
    """A constant input map through a 4x4 stride-2 transposed convolution gives a periodic
    pattern (pixels covered by different kernel taps); resize + conv gives a flat interior."""
    torch.manual_seed(0)
    for kind, flat in (("deconv", False), ("resize", True)):
        up = nn.Sequential(*__import__("helpers.gan.nets", fromlist=["_up"])._up(1, 1, kind, bias=False))
        nn.init.uniform_(up[-1].weight, 0.5, 1.5)
        out = up(torch.ones(1, 1, 8, 8))[0, 0, 2:-2, 2:-2]  # interior, away from the zero padding
        assert bool(torch.allclose(out, out.mean().expand_as(out), atol=1e-5)) is flat, kind


def test_256_and_bad_sizes():
    assert Generator(256, latent=8, width=2)(torch.randn(2, 8)).shape == (2, 1, 256, 256)
    for bad in (48, 16, 1024):
        with pytest.raises(ValueError, match="power of two"):
            Generator(bad)


def test_conditional_generator_uses_label():
    torch.manual_seed(0)
    g = Generator(32, latent=8, width=4, n_classes=3).eval()
    z = torch.randn(2, 8).repeat(3, 1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    x = g(z, y)
    assert not torch.allclose(x[0:2], x[2:4]) and not torch.allclose(x[2:4], x[4:6])


def test_projection_critic_uses_label():
    torch.manual_seed(0)
    d = Critic(32, width=4, n_classes=2)
    x = torch.randn(1, 1, 32, 32).repeat(2, 1, 1, 1)
    s = d(x, torch.tensor([0, 1]))
    assert s[0] != s[1]


class Linear(nn.Module):
    """f(x) = <w, x>: its gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """f(x) = ||x||^2 / 2: its gradient at x is x itself."""

    def forward(self, x):
        return 0.5 * (x ** 2).flatten(1).sum(1)


def test_gradient_penalty_linear_critic():
    # ||w|| = sqrt(4 * 1.5^2) = 3 -> penalty (3 - 1)^2 = 4 wherever x_hat lies
    w = torch.full((1, 1, 2, 2), 1.5)
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(Linear(w), real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(4.0, rel=1e-6)


def test_gradient_penalty_hand_computed_points():
    # real = 2 everywhere, fake = 0; alpha 0.5 -> x_hat = 1 (norm 2, penalty 1);
    # alpha 0.25 -> x_hat = 0.5 (norm 1, penalty 0); mean 0.5
    real, fake = torch.full((2, 1, 2, 2), 2.0), torch.zeros(2, 1, 2, 2)
    alpha = torch.tensor([0.5, 0.25]).view(2, 1, 1, 1)
    gp, norm = gradient_penalty(HalfSquare(), real, fake, alpha=alpha, return_norm=True)
    assert gp.item() == pytest.approx(0.5, abs=1e-6)
    assert norm.item() == pytest.approx(1.5, abs=1e-6)


def test_gradient_penalty_is_differentiable_in_the_critic():
    w = torch.full((1, 1, 2, 2), 1.5)
    critic = Linear(w.clone())
    gradient_penalty(critic, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2), alpha=torch.rand(3, 1, 1, 1)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 2 * 1.5 / 3 = 2 per entry
    assert torch.allclose(critic.w.grad, torch.full_like(w, 2.0), atol=1e-5)


def test_clip_weights_bounds():
    torch.manual_seed(0)
    d = Critic(32, width=4, norm="batch")
    for p in d.parameters():
        p.data.normal_(0, 1)
    clip_weights(d, 0.01)
    params = torch.cat([p.flatten() for p in d.parameters()])
    assert params.abs().max().item() <= 0.01
    assert (params.abs() == 0.01).any()  # clipping happened, not a no-op


def test_losses_signs():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert critic_loss(real, fake).item() == pytest.approx(0.0 - 3.0)
    assert generator_loss(fake).item() == pytest.approx(0.0)
    # a perfect discriminator's loss goes to 0; a confused one's (logits 0) is 2 log 2
    assert bce_discriminator_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2))
    assert bce_discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)).item() < 1e-6
