"""The diffusion algorithm itself, written out: noise schedules, forward process, objective,
guidance, samplers.

Noise schedule: a sequence beta_1..beta_T, how much noise each forward step adds. Everything
the model and the samplers need follows from it: alpha_t = 1 - beta_t, alpha_bar_t =
prod_{s<=t} alpha_s (the fraction of the signal's variance left at step t). Indices here run
0..T-1 (t = 0 is the first noising step), as in most code; the papers count 1..T.

Forward process (closed form, no loop needed):

    q(x_t | x_0) = N( sqrt(alpha_bar_t) x_0,  (1 - alpha_bar_t) I )
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I)

Objective (Ho et al. 2020, "simple" loss): predict the noise, || eps - eps_theta(x_t, t, y) ||^2.
Option: v-prediction (Salimans & Ho 2022), target v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0.
Option: Min-SNR-gamma weighting (Hang et al. 2023). With SNR_t = alpha_bar_t / (1 - alpha_bar_t),
the simple eps loss weighs every t alike, so the many nearly-clean steps (large SNR, where the
model only has to remove a little grain) pull against the noisy ones that decide the layout and
the lesion. Weighting each image's loss by min(SNR_t, gamma) / SNR_t (eps) or
min(SNR_t, gamma) / (SNR_t + 1) (v) caps the clean steps' share; it converges several times
faster in that paper, which is what a CPU budget needs.

Samplers: DDPM ancestral (T steps, each a draw from the Gaussian posterior
q(x_{t-1} | x_t, x_0) with x_0 replaced by the model's estimate) and DDIM (Song et al. 2021:
any sub-sequence of steps; eta = 0 is deterministic, eta = 1 on all T steps is DDPM again).
Classifier-free guidance (Ho & Salimans 2022): out = out_uncond + s (out_cond - out_uncond);
s = 0 is the unconditional model, s = 1 the conditional one, s > 1 pushes towards the class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from helpers.train.precision import autocast

OBJECTIVES = ("eps", "v")


# -- noise schedules ----------------------------------------------------------------------
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
        self._on: dict[tuple[str, torch.device], torch.Tensor] = {}

    @property
    def T(self) -> int:
        return len(self.betas)

    @staticmethod
    def make(kind: str = "linear", T: int = 1000) -> Schedule:
        if kind not in SCHEDULES:
            raise ValueError(f"Unknown noise schedule {kind!r}; choose one of {', '.join(SCHEDULES)}.")
        return Schedule(SCHEDULES[kind](T))

    def on(self, name: str, device: torch.device) -> torch.Tensor:
        """`getattr(self, name)` on `device`, copied there once: a copy at every step would make
        each training step wait for the GPU."""
        key = (name, torch.device(device))
        if key not in self._on:
            self._on[key] = getattr(self, name).to(device)
        return self._on[key]

    def at(self, name: str, t: torch.Tensor, ndim: int = 4) -> torch.Tensor:
        """`getattr(self, name)[t]` as float32, shaped (B, 1, 1, 1) to broadcast over images."""
        v = self.on(name, t.device)[t].float()
        return v.reshape(-1, *([1] * (ndim - 1)))


# -- forward process and objective -------------------------------------------------------
def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, sched: Schedule) -> torch.Tensor:
    """Jump straight to step t: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps."""
    ab = sched.at("alpha_bar", t, x0.ndim)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, sched: Schedule, objective: str = "eps"):
    """What the network is trained to output."""
    if objective == "eps":
        return noise
    if objective == "v":
        ab = sched.at("alpha_bar", t, x0.ndim)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0
    raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")


def to_eps_x0(out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, sched: Schedule, objective: str = "eps"):
    """The network's output as (predicted noise, predicted clean image)."""
    ab = sched.at("alpha_bar", t, x_t.ndim)
    if objective == "eps":
        eps = out
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    elif objective == "v":
        x0 = ab.sqrt() * x_t - (1 - ab).sqrt() * out
        eps = (1 - ab).sqrt() * x_t + ab.sqrt() * out
    else:
        raise ValueError(f"Unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    return eps, x0


def min_snr_weight(t: torch.Tensor, sched: Schedule, gamma: float, objective: str = "eps") -> torch.Tensor:
    """Per-image loss weight min(SNR_t, gamma) / SNR_t (eps) or / (SNR_t + 1) (v)."""
    ab = sched.on("alpha_bar", t.device)[t]
    snr = (ab / (1 - ab)).float()
    capped = snr.clamp(max=gamma)
    return capped / snr if objective == "eps" else capped / (snr + 1)


# -- classifier-free guidance -----------------------------------------------------------
def guided_output(model, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, scale: float = 1.0):
    """out_uncond + scale * (out_cond - out_uncond), both halves in one batched call.
    scale = 1 needs only the conditional half, so it skips the other."""
    if scale == 1.0:
        return model(x, t, y).float()
    null = torch.full_like(y, model.null_class)
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null])).float()
    cond, uncond = out.chunk(2)
    return uncond + scale * (cond - uncond)


# -- one reverse step each ----------------------------------------------------------------
def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, sched: Schedule, noise: torch.Tensor | None,
              clip: bool = True) -> torch.Tensor:
    """x_{t-1} ~ q(x_{t-1} | x_t, x0_hat): the Gaussian posterior with the model's x_0.

    mean = sqrt(ab_prev) beta_t / (1 - ab_t) * x0_hat + sqrt(alpha_t) (1 - ab_prev) / (1 - ab_t) * x_t
    var  = beta_tilde_t = beta_t (1 - ab_prev) / (1 - ab_t)
    """
    ab, ab_prev = float(sched.alpha_bar[t]), float(sched.alpha_bar_prev[t])
    beta, alpha = float(sched.betas[t]), float(sched.alphas[t])
    x0 = (x_t - (1 - ab) ** 0.5 * eps) / ab**0.5
    if clip:
        x0 = x0.clamp(-1, 1)
    mean = (ab_prev**0.5 * beta / (1 - ab)) * x0 + (alpha**0.5 * (1 - ab_prev) / (1 - ab)) * x_t
    if t == 0 or noise is None:
        return mean
    return mean + float(sched.posterior_var[t]) ** 0.5 * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, ab_t: float, ab_prev: float, eta: float = 0.0,
              noise: torch.Tensor | None = None, clip: bool = True) -> torch.Tensor:
    """One DDIM update from alpha_bar = ab_t to ab_prev (any earlier step, not only t-1).

        x0_hat  = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
        sigma   = eta * sqrt((1 - ab_prev) / (1 - ab_t)) * sqrt(1 - ab_t / ab_prev)
        x_prev  = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps + sigma z
    """
    x0 = (x_t - (1 - ab_t) ** 0.5 * eps) / ab_t**0.5
    if clip:  # keep x0_hat and eps consistent with each other after clipping
        x0 = x0.clamp(-1, 1)
        eps = (x_t - ab_t**0.5 * x0) / (1 - ab_t) ** 0.5
    sigma = eta * ((1 - ab_prev) / (1 - ab_t)) ** 0.5 * (1 - ab_t / ab_prev) ** 0.5
    x_prev = ab_prev**0.5 * x0 + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
    if sigma > 0 and noise is not None:
        x_prev = x_prev + sigma * noise
    return x_prev


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down to 0, evenly spaced (steps = T gives every step)."""
    if not 1 <= steps <= T:
        raise ValueError(f"DDIM steps must be between 1 and T={T}, got {steps}")
    if steps == 1:  # one jump from pure noise (linspace would give step 0, the cleanest)
        return [T - 1]
    return sorted({int(round(v)) for v in torch.linspace(0, T - 1, steps).tolist()}, reverse=True)


# -- full samplers ---------------------------------------------------------------------------
@torch.no_grad()
def sample(model, y: torch.Tensor, sched: Schedule, size: int, method: str = "ddim", steps: int = 50,
           eta: float = 0.0, guidance: float = 1.0, objective: str = "eps", generator: torch.Generator | None = None,
           clip: bool = True, callback=None, progress: bool = False) -> torch.Tensor:
    """Images (B, C, size, size) in [-1, 1] (C: the model's `in_ch`) for labels y (use model.null_class for "any class").

    method "ddpm": ancestral sampling over all T steps (`steps`, `eta` ignored); "ddim":
    `steps` evenly spaced steps with stochasticity eta. callback(t, x_t, x0_hat) sees every step.
    Both draw x_T first and then one noise tensor per step that has one, in the same order,
    so DDIM with steps = T and eta = 1 reproduces DDPM draw for draw."""
    from tqdm.auto import tqdm

    dev = y.device
    shape = (len(y), getattr(getattr(model, "module", model), "in_ch", 1), size, size)  # (an EMA wraps `module`)
    x = torch.randn(shape, generator=generator, device=dev)
    if method == "ddpm":
        ts = list(range(sched.T - 1, -1, -1))
    elif method == "ddim":
        ts = ddim_timesteps(sched.T, steps)
    else:
        raise ValueError(f"Unknown sampler {method!r}; choose 'ddpm' or 'ddim'.")
    for i, t in enumerate(tqdm(ts, desc=f"{method} sampling", leave=False, disable=not progress)):
        tt = torch.full((len(y),), t, device=dev, dtype=torch.long)
        with autocast(str(dev)):
            out = guided_output(model, x, tt, y, guidance)
        eps, x0 = to_eps_x0(out, x, tt, sched, objective)
        if callback is not None:
            callback(t, x, x0.clamp(-1, 1) if clip else x0)
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        has_noise = t_prev >= 0 and (method == "ddpm" or eta > 0)
        noise = torch.randn(shape, generator=generator, device=dev) if has_noise else None
        if method == "ddpm":
            x = ddpm_step(x, eps, t, sched, noise, clip)
        else:
            ab_prev = float(sched.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
            x = ddim_step(x, eps, float(sched.alpha_bar[t]), ab_prev, eta, noise, clip)
    return x.clamp(-1, 1) if clip else x
