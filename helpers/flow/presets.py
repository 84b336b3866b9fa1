"""Flow-matching settings per profile (smoke / quick / paper).

The network is the DDPM's of the same profile (helpers.ddpm.presets: base, mults, n_res,
attn_levels, dropout), so that between notebook 06 and 06c only the objective and the sampler
differ; so are the optimiser, the class balance, the label dropout and the EMA, except where a
profile's budget says otherwise below. quick: notebook 06c must train and sample within about
a minute and a half of CPU on the phantom, so it trains for fewer steps than notebook 06's
DDPM (400) and samples its exported set with few network evaluations (see notebook 06c for what
a longer run shows). paper: one GPU, the DDPM's paper budget.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from helpers.ddpm.presets import UNetPreset
from helpers.ddpm.presets import preset as ddpm_preset
from helpers.errors import SettingError
from helpers.flow.sampling import SAMPLERS, STEPS
from helpers.presets import POSITIVE_INT, Rule, Table


@dataclass(frozen=True)
class FlowPreset(UNetPreset):
    """The DDPM's U-Net settings (helpers.ddpm.presets.UNetPreset) and the ODE sampler's: grids and
    the exported set are drawn with `nfe` network evaluations of `sampler`."""
    sampler: str = "euler"
    nfe: int = 50

    RULES = UNetPreset.RULES | {"sampler": Rule(choices=SAMPLERS), "nfe": POSITIVE_INT}
    STAGE = "Flow matching"

    def check(self) -> None:
        per = STEPS[self.sampler][1]
        if self.nfe % per:
            raise SettingError(f"The flow-matching setting nfe ({self.nfe}) must be a multiple of {per} with the "
                               f"{self.sampler} sampler ({per} network evaluations a step).")


def _as_ddpm(profile: str, **changes) -> FlowPreset:
    """The DDPM preset's network, optimiser, balance and bookkeeping for `profile`, with `changes`."""
    d = ddpm_preset(profile)
    ours = {f.name for f in fields(FlowPreset)}
    shared = {f.name: getattr(d, f.name) for f in fields(d) if f.name in ours}
    return FlowPreset(**{**shared, **changes})


PRESETS = Table("flow matching", {
    "smoke": _as_ddpm("smoke", steps=30, sampler="euler", nfe=4),
    # quick: 120 steps (notebook 06's DDPM: 400) and two Euler steps for the exported set, so that
    # notebook 06c (training, the NFE comparison and the export) stays within about 90 CPU-seconds.
    # Measured on the phantom at 150 training steps (benchmarks/flow_vs_ddpm.py, 72 images per NFE):
    # Euler at NFE 2 scored SWD 0.119 and stats_dist 1.02, at NFE 4 0.107 and 0.71 (twice the cost);
    # Heun at NFE 2 and 4 left grain in the images (stats_dist 14.0 and 5.7; see notebook 06c).
    "quick": _as_ddpm("quick", steps=120, warmup=20, checkpoint_every=40, sample_every=60, sampler="euler", nfe=2),
    # paper: Euler with 50 steps, as rectified-flow image models sample
    "paper": _as_ddpm("paper", sampler="euler", nfe=50),
})

# How many images per class notebook 06c samples at each NFE for its comparison with the DDPM.
COMPARE_PER_CLASS = {"smoke": 2, "quick": 4, "paper": 64}


def preset(profile: str, variant: str | None = None, **overrides) -> FlowPreset:
    """The profile's preset with `overrides` (None values are ignored, e.g. steps=None)."""
    return PRESETS.of(profile, variant, **overrides)
