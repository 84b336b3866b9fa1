"""The diffusion maths: schedules, the forward process, samplers, guidance, the U-Net."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.ddpm.diffusion import (
    Schedule,
    cosine_betas,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    guided_output,
    linear_betas,
    min_snr_weight,
    q_sample,
    sample,
    target,
    to_eps_x0,
)
from helpers.ddpm.steps import diffusion_loss
from helpers.ddpm.unet import UNet, count_parameters


# -- schedules ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_properties(kind):
    s = Schedule.make(kind, 1000)
    assert s.T == 1000
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all(), "alpha_bar must fall strictly"
    assert s.alpha_bar[0] > 0.999, "the first step keeps almost all the signal"
    assert s.alpha_bar[-1] < 1e-4, "the last step leaves (almost) pure noise"
    assert s.alpha_bar_prev[0] == 1.0 and s.posterior_var[0] == 0.0
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas.double(), 0))


def test_schedule_endpoints_and_shape():
    b = linear_betas(1000)
    assert math.isclose(float(b[0]), 1e-4) and math.isclose(float(b[-1]), 0.02)
    assert (b[1:] > b[:-1]).all()
    c = cosine_betas(1000)
    # the cosine schedule keeps more signal half-way than the linear one
    assert Schedule(c).alpha_bar[500] > Schedule(b).alpha_bar[500]
    with pytest.raises(ValueError, match="Unknown noise schedule"):
        Schedule.make("quadratic")


# -- forward process -----------------------------------------------------------------------
@pytest.mark.parametrize("t", [0, 100, 500, 999])
def test_q_sample_matches_closed_form_mean_and_variance(t):
    s = Schedule.make("linear")
    g = torch.Generator().manual_seed(t)
    n = 200_000
    x0 = torch.full((n, 1, 1, 1), 0.7)
    xt = q_sample(x0, torch.full((n,), t), torch.randn(x0.shape, generator=g), s)
    ab = float(s.alpha_bar[t])
    mean, var = math.sqrt(ab) * 0.7, 1 - ab
    se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
    assert abs(float(xt.mean()) - mean) < 5 * se_mean + 1e-7
    assert abs(float(xt.var()) - var) < 5 * se_var + 1e-7


def test_v_target_and_inversion_are_consistent():
    s = Schedule.make("cosine")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1, torch.randn(6, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 200, 500, 900, 999])
    xt = q_sample(x0, t, noise, s)
    for obj in ("eps", "v"):
        eps, x0_hat = to_eps_x0(target(x0, noise, t, s, obj), xt, t, s, obj)
        assert torch.allclose(eps, noise, atol=2e-3)
        assert torch.allclose(x0_hat[:5], x0[:5], atol=2e-3)  # at t=999 x0 is barely recoverable from eps


# -- samplers on a toy case with a known answer --------------------------------------------
class ExactGaussianDenoiser(torch.nn.Module):
    """The exact E[eps | x_t] when every pixel of a class-y image is N(mu_y, sd^2): the
    optimal noise predictor, so a correct sampler must return that distribution."""

    def __init__(self, sched, mus=(-0.4, 0.5), sd=0.2):
        super().__init__()
        self.sched, self.mus, self.sd = sched, torch.tensor(mus), sd
        self.null_class = len(mus)

    def forward(self, x, t, y):
        ab = self.sched.at("alpha_bar", t, x.ndim)
        mu = self.mus[y].reshape(-1, 1, 1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * self.sd**2 + 1 - ab)


def test_ddim_all_steps_eta_one_is_ddpm():
    """With all T steps, DDIM's sigma equals the DDPM posterior standard deviation and its
    mean equals the posterior mean, so with the same noise both samplers follow the same path;
    both recover the data distribution from the exact denoiser."""
    s = Schedule.make("linear")
    ab, ab_prev = s.alpha_bar, s.alpha_bar_prev  # float64
    sigma = ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).sqrt()
    assert torch.allclose(sigma**2, s.posterior_var, rtol=1e-9, atol=1e-15)

    model = ExactGaussianDenoiser(s)
    y = torch.tensor([0, 1]).repeat_interleave(1000)
    common = dict(size=2, clip=False, guidance=1.0)
    x_ddpm = sample(model, y, s, method="ddpm", generator=torch.Generator().manual_seed(1), **common)
    x_ddim = sample(model, y, s, method="ddim", steps=1000, eta=1.0, generator=torch.Generator().manual_seed(1),
                    **common)
    assert torch.allclose(x_ddpm, x_ddim, atol=1e-4), float((x_ddpm - x_ddim).abs().max())
    # ... and eta = 1 really is stochastic: other noise, other samples
    x_other = sample(model, y, s, method="ddim", steps=1000, eta=1.0, generator=torch.Generator().manual_seed(2),
                     **common)
    assert (x_other - x_ddpm).abs().mean() > 0.05
    for label, mu in enumerate(model.mus.tolist()):
        v = x_ddpm[y == label].flatten()
        assert abs(float(v.mean()) - mu) < 0.01 and abs(float(v.std()) - 0.2) < 0.01


def test_deterministic_ddim_converges_to_the_data_distribution():
    """eta = 0 follows the probability-flow ODE: the class means are right at any step
    count, the spread approaches the data's as the steps get finer (few steps smooth)."""
    s = Schedule.make("linear")
    model = ExactGaussianDenoiser(s)
    y = torch.tensor([0, 1]).repeat_interleave(1000)
    errors = []
    for steps in (20, 200, 1000):
        x = sample(model, y, s, size=2, method="ddim", steps=steps, eta=0.0, clip=False,
                   generator=torch.Generator().manual_seed(3))
        for label, mu in enumerate(model.mus.tolist()):
            assert abs(float(x[y == label].mean()) - mu) < 0.01
        errors.append(abs(float(x[y == 0].std()) - 0.2))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.01, errors


def test_single_steps_agree_and_timesteps():
    s = Schedule.make("linear")
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(4, 1, 8, 8, generator=g) for _ in range(3))
    for t in (999, 500, 1):
        ab, ab_prev = float(s.alpha_bar[t]), float(s.alpha_bar_prev[t])
        a = ddpm_step(x, eps, t, s, z, clip=True)
        b = ddim_step(x, eps, ab, ab_prev, eta=1.0, noise=z, clip=True)
        assert torch.allclose(a, b, atol=1e-5)
    # eta = 0: no noise enters
    assert torch.equal(ddim_step(x, eps, 0.5, 0.6, 0.0, z), ddim_step(x, eps, 0.5, 0.6, 0.0, None))
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))
    ts = ddim_timesteps(1000, 50)
    assert len(ts) == 50 and ts[0] == 999 and ts[-1] == 0
    with pytest.raises(ValueError):
        ddim_timesteps(1000, 0)


# -- the network and guidance ----------------------------------------------------------------
def _model(seed=0, **kw):
    torch.manual_seed(seed)
    m = UNet(size=16, base=8, mults=(1, 2), n_classes=3, **kw)
    for p in m.parameters():  # break the zero initialisation so outputs depend on inputs
        torch.nn.init.normal_(p, std=0.2)
    return m.eval()


def test_guidance_scale_zero_is_the_unconditional_prediction():
    m = _model()
    g = torch.Generator().manual_seed(0)
    x, t, y = torch.randn(5, 1, 16, 16, generator=g), torch.tensor([0, 3, 50, 400, 999]), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        cond, uncond = m(x, t, y), m(x, t, torch.full_like(y, m.null_class))
        assert not torch.allclose(cond, uncond, atol=1e-3), "labels must change the prediction"
        assert torch.allclose(guided_output(m, x, t, y, 0.0), uncond, atol=1e-5)
        assert torch.allclose(guided_output(m, x, t, y, 1.0), cond, atol=1e-5)
        assert torch.allclose(guided_output(m, x, t, y, 3.0), uncond + 3 * (cond - uncond), atol=1e-4)


@pytest.mark.parametrize("size,mults", [(32, (1, 2, 2)), (64, (1, 2, 2, 2)), (128, (1, 1, 2, 2, 2))])
def test_unet_shapes(size, mults):
    m = UNet(size=size, base=8, mults=mults, n_classes=3)
    assert any(isinstance(b, torch.nn.MultiheadAttention) or type(b).__name__ == "SelfAttention"
               for b in m.modules())
    x = torch.randn(2, 1, size, size)
    out = m(x, torch.tensor([0, 999]), torch.tensor([0, 3]))
    assert out.shape == x.shape
    assert count_parameters(m) > 0


def test_unet_rejects_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match="divisible"):
        UNet(size=36, mults=(1, 2, 2, 2))


def test_class_weights_multiply_per_image_losses():
    m = _model()
    x, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 0, 1, 2])
    s = Schedule.make("linear")
    plain = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), p_uncond=0.0)
    ones = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), weights=torch.ones(4), p_uncond=0.0)
    twice = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), weights=torch.full((4,), 2.0),
                           p_uncond=0.0)
    assert torch.allclose(plain, ones) and torch.allclose(twice, 2 * plain)


def test_min_snr_weights_cap_the_clean_steps():
    s = Schedule.make("linear")
    t = torch.tensor([0, 100, 500, 999])
    ab = s.alpha_bar[t]
    snr = ab / (1 - ab)
    want_eps = torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / snr
    assert torch.allclose(min_snr_weight(t, s, 5.0, "eps").double(), want_eps, rtol=1e-5)
    w = min_snr_weight(t, s, 5.0, "eps")
    assert w[0] < 0.01 and w[-1] == 1.0  # nearly clean steps count little, noisy ones fully
    assert torch.allclose(min_snr_weight(t, s, 5.0, "v").double(),
                          torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / (snr + 1), rtol=1e-5)
    m = _model()
    x, y = torch.rand(4, 1, 16, 16) * 2 - 1, torch.tensor([0, 0, 1, 2])
    plain = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), p_uncond=0.0)
    huge = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), p_uncond=0.0, min_snr=1e9)
    capped = diffusion_loss(m, x, y, s, torch.Generator().manual_seed(0), p_uncond=0.0, min_snr=1.0)
    assert torch.allclose(plain, huge) and capped < plain and capped.dtype == torch.float32


# -- the notebook's exercise checks and the quality measure ----------------------------------
def test_exercise_checks_accept_right_and_reject_wrong_answers():
    from helpers.exercises.ddpm import check_ddim_step, check_q_sample

    def right_q(x0, t, noise, ab):
        a = ab[t].reshape(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def wrong_q(x0, t, noise, ab):  # forgot the square roots
        a = ab[t].reshape(-1, 1, 1, 1)
        return a * x0 + (1 - a) * noise

    def right_ddim(x, eps, ab_t, ab_prev, eta, z):
        x0 = (x - (1 - ab_t) ** 0.5 * eps) / ab_t**0.5
        sigma = eta * ((1 - ab_prev) / (1 - ab_t)) ** 0.5 * (1 - ab_t / ab_prev) ** 0.5
        return ab_prev**0.5 * x0 + (1 - ab_prev - sigma**2) ** 0.5 * eps + sigma * z

    def deterministic_only(x, eps, ab_t, ab_prev, eta, z):  # ignores eta
        return right_ddim(x, eps, ab_t, ab_prev, 0.0, z)

    check_q_sample(right_q)  # raises when wrong
    check_ddim_step(right_ddim)
    with pytest.raises(AssertionError, match="q_sample"):
        check_q_sample(wrong_q)
    with pytest.raises(AssertionError, match="eta=1.0"):
        check_ddim_step(deterministic_only)


def test_sliced_wasserstein_orders_distances():
    from helpers.quality.swd import real_baseline, sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    a = torch.rand(200, 16, 16, generator=g) * 2 - 1
    b = torch.rand(200, 16, 16, generator=g) * 2 - 1
    assert sliced_wasserstein(a, a) < 1e-9
    near, far = sliced_wasserstein(a, b), sliced_wasserstein(a, (b + 0.5).clamp(-1, 1))
    assert 0 < near < far
    assert sliced_wasserstein((a + 1) * 127.5, a) < 1e-3  # uint8-range input is rescaled
    assert real_baseline(a.numpy(), 100, repeats=1) > 0


def test_stats_distance_flags_noise():
    from helpers.quality.swd import stats_distance

    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    smooth = torch.stack([0.5 * torch.sin(3 * xx + k) * torch.cos(2 * yy) for k in torch.rand(40, generator=g)])
    other_smooth = torch.stack([0.5 * torch.sin(3 * xx + k) * torch.cos(2 * yy) for k in torch.rand(8, generator=g)])
    noisy = (other_smooth + 0.5 * torch.randn(other_smooth.shape, generator=g)).clamp(-1, 1)
    assert stats_distance(other_smooth, smooth) < 1.0 < stats_distance(noisy, smooth)


def test_presets_and_variants_are_valid():
    from helpers.ddpm.presets import PRESETS, VARIANTS, preset

    for name, changes in VARIANTS.items():
        p = preset("quick", **changes)
        assert all(getattr(p, k) == v for k, v in changes.items()), name
    for p in PRESETS.values():
        assert p.schedule in ("linear", "cosine") and p.objective in ("eps", "v") and p.min_snr >= 0
    with pytest.raises(ValueError, match="The DDPM has no setting"):
        preset("quick", min_snr_gamma=5)


def test_sampler_floor_and_its_reading():
    """The floor is n real images against the other real ones, with its spread; a sampler row at
    the floor reads as within its noise, one far above as above it; the loss is named after the
    preset's objective."""
    import numpy as np
    import pandas as pd

    from helpers.ddpm import figures as F
    from helpers.ddpm.presets import preset

    real = (np.random.default_rng(0).random((60, 16, 16)) * 255).astype(np.uint8)
    floor = F.real_floor(real, 4, draws=5)
    assert floor["swd_to_real"] > 0 and floor["swd_sd"] > 0 and floor["stats_sd"] > 0
    rows = [dict(sampler="DDPM", steps=100, eta=1.0, stats_dist=floor["stats_dist"], swd_to_real=floor["swd_to_real"]),
            dict(sampler="DDIM", steps=10, eta=0.0, stats_dist=9.0, swd_to_real=9.0),
            dict(sampler="real vs real", steps=0, eta=np.nan, **floor)]
    lines = F.read_against_floor(pd.DataFrame(rows), 4, 10)
    swd = next(line for line in lines if line.startswith("swd_to_real"))
    assert "DDPM 100 steps eta 1: within the floor's noise" in swd and "DDIM 10 steps eta 0: above it" in swd
    assert "v-prediction MSE, Min-SNR-5 weighted" == F.objective_name(preset("quick"))
    assert F.objective_name(preset("paper")).startswith("noise-prediction MSE")
