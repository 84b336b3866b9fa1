"""Checks for notebook 06 (DDPM): the student's q_sample and DDIM step against helpers.ddpm."""

from __future__ import annotations

import torch

from helpers.ddpm.diffusion import Schedule
from helpers.ddpm.diffusion import ddim_step as _ddim_step
from helpers.ddpm.diffusion import q_sample as _q_sample
from helpers.exercises import report


def check_q_sample(fn) -> bool:
    """fn(x0, t, noise, alpha_bar) -> x_t, with alpha_bar the schedule's (T,) tensor and t a
    (B,) tensor of step indices."""
    sched = Schedule.make("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(5, 1, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(5, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 250, 700, 999])
    got = fn(x0, t, noise, sched.alpha_bar.float())
    want = _q_sample(x0, t, noise, sched)
    if not torch.is_tensor(got) or got.shape != want.shape:
        return report(False, "q_sample", f"expected a tensor of shape {tuple(want.shape)}, "
                      f"got {getattr(got, 'shape', type(got))}")
    err = (got.float() - want).abs().max().item()
    return report(err < 1e-5, "q_sample matches x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps",
                  f"largest difference {err:.3g} (t = {t.tolist()}); index alpha_bar with t and reshape it "
                  "to (B, 1, 1, 1) so it broadcasts over each image")


def check_ddim_step(fn) -> bool:
    """fn(x_t, eps, ab_t, ab_prev, eta, noise) -> x_prev (no clipping)."""
    g = torch.Generator().manual_seed(1)
    cases = [(0.05, 0.2, 0.0), (0.5, 0.7, 0.0), (0.3, 0.9, 1.0), (0.8, 0.95, 0.5), (0.2, 1.0, 1.0)]
    for ab_t, ab_prev, eta in cases:
        x, eps, z = (torch.randn(3, 1, 8, 8, generator=g) for _ in range(3))
        got = fn(x, eps, ab_t, ab_prev, eta, z)
        want = _ddim_step(x, eps, ab_t, ab_prev, eta, z, clip=False)
        err = (torch.as_tensor(got).float() - want).abs().max().item() if torch.is_tensor(got) else float("inf")
        if not err < 1e-4:
            return report(False, "DDIM step", f"case ab_t={ab_t}, ab_prev={ab_prev}, eta={eta}: largest "
                          f"difference {err:.3g}. Recall x0_hat, sigma, then sqrt(ab_prev) x0_hat + "
                          "sqrt(1 - ab_prev - sigma^2) eps + sigma z")
    return report(True, f"DDIM step matches helpers.ddpm on {len(cases)} cases (eta 0, 0.5 and 1)")
