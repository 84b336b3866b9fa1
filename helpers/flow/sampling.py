"""Sampling from a flow-matching model: integrate dx/dt = v(x, t, y) from t = 0 (noise) to 1.

A uniform time grid of n steps, h = 1 / n:

    Euler:  x_{k+1} = x_k + h v(x_k, t_k)                                   1 network call a step
    Heun:   x'      = x_k + h v(x_k, t_k)            (an Euler guess)
            x_{k+1} = x_k + h (v(x_k, t_k) + v(x', t_{k+1})) / 2            2 calls a step

Heun (the trapezoidal rule with an Euler predictor, Karras et al. 2022's second-order sampler)
costs twice as much per step and has an error of order h^2 instead of h: at an equal number of
network evaluations (NFE) it takes half as many steps. Its last correction evaluates the velocity at
t = 1, where no noise is left in the input to tell which noise to subtract: a trained network's
velocity there is close to x itself, and with few steps the last step keeps grain (notebook 06c
measures it). The presets sample with Euler.

Classifier-free guidance on the velocity: v = v(x, t, null) + s (v(x, t, y) - v(x, t, null)),
both halves in one batched call (helpers.ddpm.diffusion.guided_output); s = 1 is the plain
conditional model. (The `flow_matching` library's examples write the same as
(1 + w) v_cond - w v_uncond, i.e. w = s - 1.)
"""

from __future__ import annotations

import torch

from helpers.ddpm.diffusion import guided_output
from helpers.flow.objective import net_time
from helpers.train.precision import autocast

SAMPLERS = ("euler", "heun")


def euler_step(velocity, x: torch.Tensor, t: float, h: float) -> torch.Tensor:
    """One Euler step of size h from time t; velocity(x, t) with t a float."""
    return x + h * velocity(x, t)


def heun_step(velocity, x: torch.Tensor, t: float, h: float) -> torch.Tensor:
    """One Heun step of size h from time t (two velocity calls)."""
    v0 = velocity(x, t)
    v1 = velocity(x + h * v0, t + h)
    return x + h * (v0 + v1) / 2


STEPS = {"euler": (euler_step, 1), "heun": (heun_step, 2)}


def n_steps(method: str, nfe: int) -> int:
    """Steps of `method` that make `nfe` network evaluations (Heun: two a step, so nfe is even)."""
    if method not in STEPS:
        raise ValueError(f"Unknown sampler {method!r}; choose one of {', '.join(SAMPLERS)}.")
    per = STEPS[method][1]
    if nfe < per or nfe % per:
        raise ValueError(f"{method} makes {per} network evaluations a step: nfe must be a multiple of {per}, "
                         f"got {nfe}")
    return nfe // per


def integrate(velocity, x0: torch.Tensor, nfe: int, method: str = "euler", callback=None) -> torch.Tensor:
    """x at t = 1 from x0 at t = 0 on a uniform grid; callback(t, x) sees the start of every step."""
    steps = n_steps(method, nfe)
    step, x, h = STEPS[method][0], x0, 1.0 / steps
    for k in range(steps):
        if callback is not None:
            callback(k * h, x)
        x = step(velocity, x, k * h, h)
    return x


def guided_velocity(model, y: torch.Tensor, guidance: float = 1.0):
    """velocity(x, t) of the class-conditional model for labels y with guidance scale `guidance`."""
    def velocity(x, t):
        tt = torch.full((len(x),), float(t), device=x.device)
        with autocast(str(x.device)):
            return guided_output(model, x, net_time(tt), y, guidance)
    return velocity


@torch.no_grad()
def sample(model, y: torch.Tensor, size: int, nfe: int = 10, method: str = "euler", guidance: float = 1.0,
           generator: torch.Generator | None = None, clip: bool = True, callback=None) -> torch.Tensor:
    """Images (B, C, size, size) in [-1, 1] for labels y (model.null_class: any class), from noise
    drawn with `generator`, integrated with `nfe` network evaluations of `method`."""
    shape = (len(y), getattr(getattr(model, "module", model), "in_ch", 1), size, size)  # (an EMA wraps `module`)
    x = torch.randn(shape, generator=generator, device=y.device)
    x = integrate(guided_velocity(model, y, guidance), x, nfe, method, callback)
    return x.clamp(-1, 1) if clip else x
