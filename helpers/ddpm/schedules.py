"""Noise schedules: how much noise each of the T forward steps adds.

A schedule is a sequence beta_1..beta_T. Everything the model and the samplers need
follows from it: alpha_t = 1 - beta_t, alpha_bar_t = prod_{s<=t} alpha_s (the fraction of
the signal's variance left at step t). Indices here run 0..T-1 (t = 0 is the first noising
step), as in most code; the papers count 1..T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def linear_betas(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al. (2020): betas rising linearly from 1e-4 to 0.02 over T = 1000 steps. For
    another T the endpoints are rescaled so the total amount of noise stays about the same."""
    scale = 1000 / T
    return torch.linspace(scale * beta_1, scale * beta_T, T, dtype=torch.float64)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021): alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), which
    destroys information more slowly than the linear schedule at low resolutions."""
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


@dataclass
class Schedule:
    """The per-step quantities, precomputed in float64 and handed out as float32."""

    betas: torch.Tensor

    def __post_init__(self):
        b = self.betas.double()
        if b.ndim != 1 or not ((b > 0) & (b < 1)).all():
            raise ValueError("betas must be a 1-d tensor with values in (0, 1)")
        self.alphas = 1 - b
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        # alpha_bar "before step 0" is 1: no noise yet.
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # Variance of the true posterior q(x_{t-1} | x_t, x_0) ("beta tilde").
        self.posterior_var = b * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)

    @property
    def T(self) -> int:
        return len(self.betas)

    @staticmethod
    def make(kind: str = "linear", T: int = 1000) -> Schedule:
        if kind not in SCHEDULES:
            raise ValueError(f"Unknown noise schedule {kind!r}; choose one of {', '.join(SCHEDULES)}.")
        return Schedule(SCHEDULES[kind](T))

    def at(self, name: str, t: torch.Tensor, ndim: int = 4) -> torch.Tensor:
        """`getattr(self, name)[t]` as float32, shaped (B, 1, 1, 1) to broadcast over images."""
        v = getattr(self, name).to(t.device)[t].float()
        return v.reshape(-1, *([1] * (ndim - 1)))
