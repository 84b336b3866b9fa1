"""Checks for notebook 06c (flow matching): the student's loss and Euler sampler against helpers.flow."""

from __future__ import annotations

import torch

from helpers.exercises import report
from helpers.flow.objective import interpolate, velocity_target
from helpers.flow.sampling import integrate


def _velocity(x, t):
    """A velocity field that depends on x and t, as a network's does (t: a float or a (B,) tensor)."""
    t = torch.as_tensor(t, dtype=x.dtype)
    t = t.reshape(-1, *([1] * (x.ndim - 1))) if t.ndim else t
    return torch.sin(3 * x) * (1 + t) - 0.5 * x


def check_flow_loss(fn) -> None:
    """fn(velocity, x0, x1, t) -> the mean squared error between velocity(x_t, t) and the path's
    velocity, with x0 the noise, x1 the images and t a (B,) tensor of times in [0, 1]."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 1, 8, 8, generator=g)
    x1 = torch.rand(5, 1, 8, 8, generator=g) * 2 - 1
    t = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0])
    got = fn(_velocity, x0, x1, t)
    want = (_velocity(interpolate(x0, x1, t), t) - velocity_target(x0, x1)).square().mean()
    if not torch.is_tensor(got) or got.numel() != 1:
        return report(False, "flow-matching loss", f"expected one number (a 0-d tensor), got "
                      f"{getattr(got, 'shape', type(got))}")
    err = abs(float(got) - float(want))
    return report(err < 1e-5, "the flow-matching loss matches the mean of |v(x_t, t) - (x1 - x0)|^2",
                  f"got {float(got):.5f}, expected {float(want):.5f}. Check the point on the path (t = 0 is the "
                  "noise, t = 1 the image), the target (the path's velocity) and that the mean runs over "
                  "every pixel of every image")


def check_euler_sampler(fn) -> None:
    """fn(velocity, x0, n_steps) -> x at t = 1, from x0 at t = 0 with n_steps equal Euler steps,
    velocity(x, t) taking t as a float."""
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(3, 1, 8, 8, generator=g)
    for n in (1, 3, 10):
        got = fn(_velocity, x0.clone(), n)
        want = integrate(_velocity, x0.clone(), n, "euler")
        err = (torch.as_tensor(got).float() - want).abs().max().item() if torch.is_tensor(got) else float("inf")
        if not err < 1e-5:
            return report(False, "Euler sampler", f"with {n} step(s): largest difference {err:.3g}. The steps are "
                          "1 / n_steps long, the k-th starts at t = k / n_steps, and each moves x along the "
                          "velocity at its start")
    return report(True, "the Euler sampler matches helpers.flow.sampling with 1, 3 and 10 steps")
