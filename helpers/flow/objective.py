"""The flow-matching path and its target (Lipman et al. 2023; Liu et al. 2023, rectified flow).

Convention (that of the `flow_matching` and `torchcfm` libraries): time runs from t = 0, pure
noise x_0 ~ N(0, I), to t = 1, the image x_1. Between them the straight line

    x_t = (1 - t) x_0 + t x_1,        whose velocity is   dx_t/dt = x_1 - x_0.

A network v_theta(x_t, t, y) regresses that velocity; averaged over all pairs (x_0, x_1) that
pass through x_t, the regression's optimum is the velocity field of an ODE that carries the
noise distribution to the data's. Sampling integrates that ODE (helpers.flow.sampling).

Against the DDPM (helpers.ddpm.diffusion): the same kind of corruption, a mix of image and
Gaussian noise, with signal weight t and noise weight 1 - t instead of sqrt(alpha_bar) and
sqrt(1 - alpha_bar); the same network; another target (a velocity, not the noise) and another
time variable (continuous t in [0, 1], not a step index, and running the other way: t = 1 is
the clean image). The network's time embedding was made for step indices 0..999, so it is
given 1000 t (`net_time`): the same range of frequencies.
"""

from __future__ import annotations

import torch

TIME_SCALE = 1000.0  # the U-Net's sinusoidal embedding was built for step indices 0..T-1, T = 1000


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t x1 for every image, t of shape (B,)."""
    t = t.reshape(-1, *([1] * (x1.ndim - 1))).to(x1.dtype)
    return (1 - t) * x0 + t * x1


def velocity_target(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The path's velocity d x_t / dt = x1 - x0 (the same at every t)."""
    return x1 - x0


def net_time(t: torch.Tensor) -> torch.Tensor:
    """The time the U-Net is given: t in [0, 1] scaled to its embedding's range."""
    return t * TIME_SCALE
