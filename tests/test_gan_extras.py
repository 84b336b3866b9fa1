"""The GAN notebooks' helpers: the SWD score, the exercise checks, presets, figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.gan import presets
from helpers.quality.swd import real_baseline, sliced_wasserstein


def test_swd_orders_distances():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (60, 32, 32)).astype(np.uint8)
    b = rng.integers(0, 200, (60, 32, 32)).astype(np.uint8)
    brighter = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)
    assert sliced_wasserstein(a, a) == pytest.approx(0.0, abs=1e-7)
    same_dist, shifted = sliced_wasserstein(a, b), sliced_wasserstein(a, brighter)
    assert same_dist < shifted
    assert sliced_wasserstein(a, brighter) == pytest.approx(sliced_wasserstein(brighter, a), rel=1e-5)
    assert 0 < real_baseline(np.concatenate([a, b])) < shifted
    with pytest.raises(ValueError, match="at least 2"):
        sliced_wasserstein(a[:1], b)


def test_exercise_checks_accept_solutions_and_reject_mistakes():
    from helpers.exercises import gan as ex
    from helpers.gan.losses import bce_discriminator_loss, bce_generator_loss, clip_weights

    ex.check_clip_weights(clip_weights)  # raises when wrong
    with pytest.raises(AssertionError, match="Not yet"):
        ex.check_clip_weights(lambda m, c: [p.data.clamp_(-c, c) for n, p in m.named_parameters() if "weight" in n])

    def gp(critic, real, fake, alpha):
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def gp_no_graph(critic, real, fake, alpha):
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x)
        return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def gp_batch_norm(critic, real, fake, alpha):  # one norm over the whole batch: wrong
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        return (g.norm() - 1) ** 2

    ex.check_gradient_penalty(gp)  # raises when wrong
    for wrong in (gp_no_graph, gp_batch_norm):
        with pytest.raises(AssertionError, match="Not yet"):
            ex.check_gradient_penalty(wrong)
    ex.check_dcgan_losses(bce_discriminator_loss, bce_generator_loss)  # raises when wrong
    with pytest.raises(AssertionError, match="Not yet"):  # the saturating loss is not the one asked for
        ex.check_dcgan_losses(bce_discriminator_loss, lambda lf: -bce_discriminator_loss(lf, lf))

    def proj(critic, x, y):
        h = critic.features(x).flatten(1)
        return critic.score(h).squeeze(1) + (critic.embed(y) * h).sum(1)

    ex.check_projection_score(proj)  # raises when wrong
    with pytest.raises(AssertionError, match="Not yet"):
        ex.check_projection_score(lambda critic, x, y: critic.score(critic.features(x).flatten(1)).squeeze(1))


def test_presets():
    p = presets.get_preset("wgan", "paper")
    assert (p.optimizer, p.lr_d, p.batch, p.n_critic, p.clip, p.latent) == ("rmsprop", 5e-5, 128, 5, 0.01, 128)
    p = presets.get_preset("wgan-gp", "paper")
    assert (p.optimizer, p.betas, p.lr_d, p.gp_weight, p.n_critic, p.critic_norm) == ("adam", (0.0, 0.9), 1e-4, 10.0, 5, "none")
    assert presets.get_preset("dcgan", "paper").lr_g == 1e-3
    assert presets.get_preset("dcgan", "quick", variant="dcgan-study-lr").lr_g == 1e-3
    assert presets.DEFAULTS["dcgan"].lr_g == 2e-4 and presets.DEFAULTS["dcgan"].betas[0] == 0.5
    assert presets.get_preset("dcgan", "paper").latent == 100
    assert presets.get_preset("wgan", "paper").balance_extra == 50 and presets.get_preset("dcgan", "paper").balance_extra == 0
    assert 1.0 in presets.sweep_weights("paper") and presets.get_preset("cwgan", "paper").gp_weight == 1.0
    with pytest.raises(ValueError, match="has no setting 'nonsense'"):
        presets.get_preset("wgan", "quick", nonsense=1)
    with pytest.raises(ValueError, match="Unknown GAN"):
        presets.get_preset("stylegan", "quick")


def test_figures_read_back_grids(smoke_cfg, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.gan import figures
    from helpers.gan.pipeline import train_run

    data = np.random.default_rng(0).integers(0, 256, (10, 32, 32), dtype=np.uint8)
    h = train_run("dcgan", data, smoke_cfg, tmp_path / "run", steps=4, progress=False)
    row = figures.grid_row(h.samples()[-1], n=6)
    assert len(row) == 6 and all(r.shape == (32, 32) for r in row)
    fig = figures.samples_across_training(tmp_path / "run", n_rows=3, n=4)
    assert len(fig.axes) == 2 * 4  # grids at step 0 and step 4
    fig = figures.loss_curves({"a": h, "b": tmp_path / "run"})
    assert len(fig.axes) == 2
