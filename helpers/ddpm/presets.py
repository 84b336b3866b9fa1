"""DDPM settings per profile (smoke / quick / paper).

smoke: tests, seconds on 2 CPU cores (T = 100 there only). quick: 64 px on a laptop CPU in
a few minutes, a narrow U-Net (8 channels at full resolution) and 400 steps: enough to see
the model learn the images' layout, not for sharp samples. The quick profile trains with the
cosine schedule, v-prediction and Min-SNR-5 weighting: on BUSI at 64 px, in the same 1800
CPU steps (about 19 minutes on one core), that gave round dark cysts in benign samples and
shadowing masses in malignant ones, where the linear schedule with epsilon-prediction gave
less distinct classes. The `busi-cpu` variant is that BUSI run. paper: one GPU, 128 px, a U-Net
in the size range of common DDPM baselines and enough steps for sharp samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.errors import SettingError
from helpers.presets import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, Preset, Rule, Table
from helpers.train.compiled import COMPILE

LAYOUTS = ("auto", "nchw", "channels_last")


@dataclass(frozen=True)
class UNetPreset(Preset):
    """What a class-conditional U-Net generator trained by the course's Trainer is set by, whatever
    its objective: the network, label dropout and class balance, the optimiser, the bookkeeping,
    guidance and export, and how it runs. The DDPM (below) and flow matching (helpers.flow.presets)
    add their objective's and sampler's own settings."""
    # network
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 2, 2)
    n_res: int = 1
    attn_levels: tuple[int, ...] | None = None  # None: the lowest resolution only
    dropout: float = 0.0
    p_uncond: float = 0.1  # label dropout that trains the unconditional model for guidance
    # class balance: "weights" (loss x n / (k n_c), as the DDPM study), "sampling" (draw
    # each class equally often) or "none"
    balance: str = "weights"
    # optimisation
    steps: int = 2000
    batch: int = 32
    lr: float = 2e-4
    warmup: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    # bookkeeping
    checkpoint_every: int = 200
    sample_every: int = 500
    grid_per_class: int = 8
    # sampling for grids and export
    guidance: float = 2.0
    export_batch: int = 64
    # how it runs (not what it learns): the U-Net's memory layout (auto: NCHW on CUDA, where
    # GroupNorm runs NCHW, channels_last on the CPU, 19 % faster there) and torch.compile
    layout: str = "auto"
    compile: str = "off"

    # What each setting accepts (helpers.presets): `--set batch=0` is refused before training.
    RULES = {
        "base": POSITIVE_INT, "mults": Rule(lo=1), "n_res": POSITIVE_INT, "attn_levels": NON_NEGATIVE,
        "dropout": FRACTION, "p_uncond": FRACTION, "balance": Rule(choices=("weights", "sampling", "none")),
        "steps": POSITIVE_INT, "batch": POSITIVE_INT, "lr": POSITIVE, "warmup": NON_NEGATIVE, "grad_clip": POSITIVE,
        "ema_decay": FRACTION, "checkpoint_every": POSITIVE_INT, "sample_every": POSITIVE_INT,
        "grid_per_class": POSITIVE_INT, "guidance": NON_NEGATIVE, "export_batch": POSITIVE_INT,
        "layout": Rule(choices=LAYOUTS), "compile": Rule(choices=COMPILE),
    }

    def as_dict(self) -> dict:
        d = super().as_dict()
        d["mults"] = list(self.mults)
        d["attn_levels"] = None if self.attn_levels is None else list(self.attn_levels)
        return d

    def net_kwargs(self) -> dict:
        return dict(base=self.base, mults=tuple(self.mults), n_res=self.n_res, attn_levels=self.attn_levels,
                    dropout=self.dropout)


@dataclass(frozen=True)
class DDPMPreset(UNetPreset):
    # diffusion
    T: int = 1000
    schedule: str = "linear"
    objective: str = "eps"
    min_snr: float = 0.0  # Min-SNR-gamma loss weighting (0: off, the plain "simple" loss)
    # DDIM for grids and export
    ddim_steps: int = 50
    eta: float = 0.0

    RULES = UNetPreset.RULES | {
        "T": Rule(lo=2), "schedule": Rule(choices=("linear", "cosine")), "objective": Rule(choices=("eps", "v")),
        "min_snr": NON_NEGATIVE, "ddim_steps": POSITIVE_INT, "eta": Rule(lo=0, hi=1),
    }
    STAGE = "The DDPM"

    def check(self) -> None:
        if self.ddim_steps > self.T:
            raise SettingError(f"The DDPM setting ddim_steps ({self.ddim_steps}) cannot exceed T ({self.T}).")


# Named variants beside the profile presets (`python -m helpers train ddpm --variant busi-cpu`).
VARIANTS = {
    # BUSI at 64 px within about 20 CPU minutes: a wider U-Net than quick's, every class drawn
    # equally often (malignant and normal are the small classes), stronger guidance.
    "busi-cpu": dict(base=16, mults=(1, 2, 4, 4), balance="sampling", warmup=100, steps=1800, guidance=3.0,
                     ddim_steps=25, checkpoint_every=200, sample_every=600, grid_per_class=8),
}

PRESETS = Table("the DDPM", {
    # T = 100 only here: the notebook's DDPM-vs-DDIM table must run in seconds on the tests' CPU
    # eta = 1 (stochastic DDIM) on the CPU profiles: after a few hundred steps the noise
    # prediction at small t is still poor, and deterministic DDIM (eta = 0) then leaves visible
    # noise in about half of the samples, where eta = 1 does not (measured in notebook 06).
    "smoke": DDPMPreset(base=8, mults=(1, 2, 2), T=100, steps=30, batch=8, lr=1e-3, warmup=5, ema_decay=0.8,
                        checkpoint_every=10, sample_every=30, grid_per_class=3, ddim_steps=8, eta=1.0,
                        guidance=2.0, export_batch=16),
    # quick: every class drawn equally often and guidance 3 (on the phantom at 400 steps, balanced
    # sampling with guidance 3 gave normal samples without masses and malignant ones with dark
    # masses, where class weights with guidance 2 gave the same image for every class)
    "quick": DDPMPreset(base=8, mults=(1, 2, 4, 8), schedule="cosine", objective="v", min_snr=5.0, steps=400,
                        batch=16, lr=1e-3, warmup=40, ema_decay=0.99, checkpoint_every=100, sample_every=200,
                        grid_per_class=6, ddim_steps=10, eta=1.0, guidance=3.0, balance="sampling",
                        export_batch=64),
    "paper": DDPMPreset(base=64, mults=(1, 1, 2, 2, 4), n_res=2, attn_levels=(3, 4), dropout=0.1, steps=60_000,
                        batch=64, lr=1e-4, warmup=1000, ema_decay=0.9999, checkpoint_every=1000,
                        sample_every=5000, grid_per_class=8, ddim_steps=100, guidance=2.0, export_batch=128),
}, VARIANTS)

# How many images the notebook's DDPM-vs-DDIM table samples per sampler.
TABLE_IMAGES = {"smoke": 6, "quick": 3, "paper": 64}  # quick: one per class; the 1000-step DDPM row costs most


def preset(profile: str, variant: str | None = None, **overrides) -> DDPMPreset:
    """The profile's preset with a named variant and `overrides` (None values are ignored,
    e.g. steps=None)."""
    return PRESETS.of(profile, variant, **overrides)
