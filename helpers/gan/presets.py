"""GAN hyperparameters per profile and generator.

`smoke` is for the tests (32 px, tiny nets, a handful of steps); `quick` is sized to learn
visibly on a 2-core CPU in a few minutes at 64 px; `paper` carries each study's own settings
(see docs/studies.md): the WGAN study's RMSProp 5e-5 / batch 128 / n_critic 5 / clip 0.01 / latent
128, WGAN-GP's Adam (0, 0.9) 1e-4 with lambda 10, the DCGAN study's Adam 1e-3 (beta1 0.5) with
latent 100, and the cWGAN study's best penalty weight (gamma 1.0) and batch 32.
A dataset may change a profile's preset further (`DATASET_CHANGES`): on BreakHis, the cWGAN
study's own data, the paper preset takes that study's learning rate too.
Budgets count generator steps (each with `n_critic` critic steps inside).
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.errors import SettingError
from helpers.gan.augment import POLICIES
from helpers.presets import ANY, FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, Preset, Rule
from helpers.train.compiled import COMPILE

KINDS = ("wgan", "wgan-gp", "dcgan", "cwgan")


@dataclass(frozen=True)
class GanPreset(Preset):
    kind: str
    steps: int = 1000              # generator steps
    batch: int = 64
    latent: int = 128
    g_width: int = 32              # generator channels at its last hidden layer (x8 at 4x4 at most)
    d_width: int = 32
    optimizer: str = "adam"        # adam | rmsprop
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, ...] = (0.0, 0.9)
    n_critic: int = 5              # critic steps per generator step
    clip: float = 0.0              # WGAN weight clipping (0: off)
    gp_weight: float = 0.0         # gradient-penalty weight lambda (0: off)
    critic_norm: str = "none"      # batch | layer | none
    dropout: float = 0.0
    embed_dim: int = 32            # label embedding of the conditional generator
    upsample: str = "deconv"       # generator doubling: deconv (transposed conv) | resize (+ 3x3 conv)
    ema: float = 0.0               # generator EMA decay (0: off); samples use the EMA copy
    diffaug: tuple[str, ...] | None = None  # DiffAugment policies for the critic (helpers.gan.augment)
    cond_norm: bool = False        # conditional generator: class-conditional batch norm in every layer
    sample_every: int = 100
    checkpoint_every: int = 100
    balance_extra: int = 0         # export: classes balanced to (largest class + extra)
    compile: str = "off"           # torch.compile of G (and of D without a penalty): off | inductor | aot_eager

    # What each setting accepts (helpers.presets): `--set batch=0` is refused before training.
    RULES = {
        "kind": Rule(choices=KINDS), "steps": POSITIVE_INT, "batch": POSITIVE_INT, "latent": POSITIVE_INT,
        "g_width": POSITIVE_INT, "d_width": POSITIVE_INT, "optimizer": Rule(choices=("adam", "rmsprop")),
        "lr_g": POSITIVE, "lr_d": POSITIVE, "betas": Rule(lo=0, hi=1, open_hi=True, length=2), "n_critic": POSITIVE_INT,
        "clip": NON_NEGATIVE, "gp_weight": NON_NEGATIVE, "critic_norm": Rule(choices=("batch", "layer", "none")),
        "dropout": FRACTION, "embed_dim": POSITIVE_INT, "upsample": Rule(choices=("deconv", "resize")), "ema": FRACTION,
        "diffaug": Rule(choices=POLICIES), "cond_norm": ANY,
        "sample_every": POSITIVE_INT, "checkpoint_every": POSITIVE_INT, "balance_extra": NON_NEGATIVE,
        "compile": Rule(choices=COMPILE),
    }
    FIXED = ("kind",)

    @property
    def what(self) -> str:
        return f"The {self.kind} GAN"


# The algorithm's own defaults, per generator.
DEFAULTS = {
    "wgan": GanPreset("wgan", optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, n_critic=5, clip=0.01,
                      critic_norm="batch", balance_extra=50),
    "wgan-gp": GanPreset("wgan-gp", optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5,
                         gp_weight=10.0, critic_norm="none", balance_extra=50),
    "dcgan": GanPreset("dcgan", optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                       latent=100, critic_norm="batch", balance_extra=0),
    "cwgan": GanPreset("cwgan", optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5,
                       gp_weight=10.0, critic_norm="none", balance_extra=50),
}

# Per profile: changes to the defaults.
PROFILE_CHANGES = {
    "smoke": {
        "wgan": dict(steps=6, batch=16, g_width=8, d_width=8, sample_every=3, checkpoint_every=3,
                     n_critic=2, lr_g=5e-4, lr_d=5e-4),
        "wgan-gp": dict(steps=6, batch=16, g_width=8, d_width=8, sample_every=3, checkpoint_every=3, n_critic=2),
        "dcgan": dict(steps=8, batch=16, g_width=8, d_width=8, sample_every=4, checkpoint_every=4),
        "cwgan": dict(steps=6, batch=16, g_width=8, d_width=8, sample_every=3, checkpoint_every=3, n_critic=2),
    },
    "quick": {
        # Sized for a 2-core laptop CPU (a few CPU minutes per class model at 64 px). Larger
        # learning rates than the studies' are a CPU compromise: at 5e-5 a few CPU minutes show
        # only noise (the paper preset keeps the studies' values). n_critic stays at the
        # algorithm's 5: with 2, WGAN-GP and cWGAN-GP on BUSI gave checkerboard textures and a
        # collapsed benign model where 5 gave ultrasound-like images at the same wall time.
        # (Adam beta1 0.5 with lr 5e-4 gave WGAN-GP stripe artefacts; beta (0, 0.9) at 2e-4 did not.)
        "wgan": dict(steps=150, batch=32, g_width=16, d_width=16, n_critic=5, lr_g=5e-4, lr_d=5e-4,
                     sample_every=25, checkpoint_every=25),
        # WGAN-GP: twice the generator steps at half the batch (the same images seen, +12 % CPU).
        # Measured on the phantom (benchmarks/gan_recipes.py, 3 class models, splits of seeds 0 and 1),
        # label accuracy / FID / KID / precision / recall: 150 steps at batch 32 0.61 / 3.93 / 0.157 /
        # 0.51 / 0.15 and 0.63 / 5.32 / 0.242 / 0.57 / 0.26; 300 at batch 16 0.68 / 2.67 / 0.114 / 0.63
        # / 0.16 and 0.64 / 4.58 / 0.231 / 0.82 / 0.52, with dark masses in the benign and malignant
        # rows and a dark lower band in the normal one. lr 5e-4 (seed 0: 0.64 / 3.80) drew stripes;
        # a generator EMA of 0.99 over 150 steps drew worse (0.38 / 15.6).
        "wgan-gp": dict(steps=300, batch=16, g_width=16, d_width=16, n_critic=5, lr_g=2e-4, lr_d=2e-4,
                        sample_every=25, checkpoint_every=25),
        # DCGAN: its step is cheap (one update each, no penalty: ~0.09 CPU-s at batch 32), so the
        # budget goes to generator steps, and DiffAugment keeps the discriminator from learning
        # a few hundred images by heart. Measured on the phantom (3 class models, seed 0, one
        # probe and feature set; helpers.gan.label_dependence, quality.metrics), FID (mean over
        # classes) / precision / recall / probe label accuracy: 300 steps with EMA 0.99 drew grey
        # blur, 5.54 (5.89) / 0.33 / 0.01 / 0.72; + DiffAugment 4.61 (4.97) / 0.58 / 0.03 / 0.68;
        # 900 steps 2.02 (5.18) / 0.66 / 0.50 / 0.75; 900 + DiffAugment 1.96 (1.30) / 0.89 /
        # 0.43 / 0.74, with lesions in the benign and malignant rows and none in the normal row;
        # the same without the EMA 1.81 (1.22) / 0.93 / 0.53 / 0.73, so the EMA is off here;
        # 800 steps 1.29 (1.04) / 0.92 / 0.55 / 0.78; 600 steps 1.87 (2.37) / 0.76 / 0.55 / 0.45
        # (the classes no longer told apart). Batch 24 at 900 steps: 0.54 (3.02) / 0.82 / 0.44 / 0.64.
        "dcgan": dict(steps=800, batch=32, g_width=16, d_width=16, lr_g=5e-4, lr_d=5e-4,
                      diffaug=("translation", "cutout"), sample_every=200, checkpoint_every=200),
        # cWGAN: embed_dim 64, not 32: the label's share of the generator's input (64 of 128 + 64
        # numbers, not 32 of 160). In 200 steps the critic learns only coarse class differences;
        # with 32 the label changed 8-15 % of an image at fixed noise (a same-noise grid's rows
        # nearly alike); with 64, 21-51 %, and a classifier of the real images put 63-78 % of the
        # samples in their class (32: 55-61 %; chance 33 %), 3 seeds, same cost. The price: less
        # variety within a class (0.6-0.75 of the real images' spread; 32: 0.9-1.1). 48 put fewer
        # in their class than 32 did (43-51 %). helpers.gan.label_dependence measures all this.
        "cwgan": dict(steps=200, batch=32, g_width=16, d_width=16, n_critic=5, lr_g=2e-4, lr_d=2e-4,
                      embed_dim=64, sample_every=25, checkpoint_every=25),
    },
    "paper": {
        "wgan": dict(steps=5000, batch=128, latent=128, g_width=64, d_width=64, critic_norm="none",
                     dropout=0.3, sample_every=250, checkpoint_every=250),
        "wgan-gp": dict(steps=5000, batch=64, g_width=64, d_width=64, sample_every=250, checkpoint_every=250),
        "dcgan": dict(steps=4000, batch=128, g_width=64, d_width=64, lr_g=1e-3, lr_d=1e-3,
                      sample_every=250, checkpoint_every=250),
        "cwgan": dict(steps=8000, batch=32, g_width=64, d_width=64, gp_weight=1.0,
                      sample_every=250, checkpoint_every=250),
    },
}

# Per dataset and profile: changes on top of the profile's preset. BreakHis is the cWGAN
# study's own data: on `paper` its settings (Adam at lr 0.0025 for both networks, gamma 1.0,
# batch 32; its 512 px is `--size 512`; Adam's betas are not given there, so the algorithm's
# (0, 0.9) stay); on `quick` a CPU size for RGB at 64 px (colour adds little to a step: only the
# first and last layers see 3 channels).
_BREAKHIS = {
    "paper": {"cwgan": dict(lr_g=2.5e-3, lr_d=2.5e-3, batch=32, gp_weight=1.0)},
    # quick: 600 steps at batch 8. Measured on the stand-in (64 px RGB, 136 training images, one
    # thread; spread benign / malignant, helpers.gan.collapse, below 0.35 collapsed): 200 steps
    # at batch 16 0.108 / 0.073 (one image per class; 65 CPU-s); 400 at 16 0.30 / 0.22; 600 at
    # 16 0.64 / 0.63; 800 at 16 0.80 / 0.89 (283 CPU-s); 600 at batch 8 0.53 / 0.57, 128 CPU-s on
    # a busy machine: the collapse was the budget. At 200 steps a learning rate of 1e-4, a
    # generator EMA of 0.99, gamma 1, class-conditional norm, DiffAugment, a minibatch-std
    # feature in the critic or the output bias at the images' mean colour collapsed as well.
    "quick": {"cwgan": dict(steps=600, batch=8, g_width=16, d_width=16, n_critic=5, lr_g=2e-4, lr_d=2e-4,
                            sample_every=100, checkpoint_every=100)},
}
DATASET_CHANGES = {"breakhis": _BREAKHIS, "breakhis8": _BREAKHIS}

# Named variants beside the profile presets, e.g. the DCGAN study's learning rate on any profile.
# "long": the same model trained LONG times as many generator steps (where a run is heading;
# helpers.gan.long_runs ships such runs of the quick presets). A variant is a dict of changes or
# a function of the preset giving them.
LONG = 4
VARIANTS = {
    "dcgan-study-lr": dict(lr_g=1e-3, lr_d=1e-3),
    "textbook": {},
    "long": lambda p: dict(steps=LONG * p.steps, sample_every=LONG * p.sample_every,
                           checkpoint_every=LONG * p.checkpoint_every),
}


def get_preset(kind: str, profile: str = "quick", variant: str | None = None, dataset: str | None = None,
               **changes) -> GanPreset:
    """The preset for generator `kind` on `profile` (and `dataset`, see DATASET_CHANGES), with
    a named variant and changes applied."""
    if kind not in DEFAULTS:
        raise SettingError(f"Unknown GAN {kind!r}; choose one of {', '.join(KINDS)}.")
    if profile not in PROFILE_CHANGES:
        raise SettingError(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILE_CHANGES)}.")
    preset = DEFAULTS[kind].with_(**PROFILE_CHANGES[profile][kind])
    preset = preset.with_(**DATASET_CHANGES.get(dataset, {}).get(profile, {}).get(kind, {}))
    if variant:
        if variant not in VARIANTS:
            raise SettingError(f"The {kind} GAN has no variant {variant!r}; known: {', '.join(VARIANTS)}.")
        changes_of = VARIANTS[variant]
        preset = preset.with_(**(changes_of(preset) if callable(changes_of) else changes_of))
    return preset.with_(**changes) if changes else preset


def table(kinds=KINDS, profiles=("smoke", "quick", "paper"), columns=None, dataset: str | None = None):
    """The presets side by side, as a DataFrame (rows: generator / profile)."""
    import pandas as pd

    rows = []
    for k in kinds:
        for p in profiles:
            d = get_preset(k, p, dataset=dataset).as_dict()
            rows.append({"generator": k, "profile": p, **d})
    df = pd.DataFrame(rows).drop(columns=["kind"]).set_index(["generator", "profile"])
    return df[list(columns)] if columns else df


# Notebook 05's penalty-weight sweep (the cWGAN study swept gamma from 0.5 to 6.55, Table 8).
# The preset's own gp_weight is always included, so the main model is one row of the table.
SWEEPS = {
    "smoke": dict(gp_weights=(1.0,)),
    "quick": dict(gp_weights=(1.0, 100.0)),  # beside the main 10: two runs side by side, one per core
    "paper": dict(gp_weights=(0.5, 2.0, 5.0, 10.0)),
}


def sweep_weights(profile: str, dataset: str | None = None) -> list[float]:
    """The gradient-penalty weights notebook 05 compares on this profile (sorted)."""
    base = get_preset("cwgan", profile, dataset=dataset).gp_weight
    return sorted({float(base), *map(float, SWEEPS[profile]["gp_weights"])})
