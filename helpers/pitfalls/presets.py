"""Budgets per profile, and which published study used which shortcut.

Every protocol of notebook 09 trains the SAME network for the SAME epochs on the same images;
only the protocol changes. `folds` is the number of grouped (or random) folds each
fold-based protocol uses; `repeats` how many times the honest folds are redrawn (the single
split's spread); `seeds` the classifier seeds of the split-based protocols (generator and
synthetic test). `workers`: runs trained side by side in processes on a CPU, each with
`threads` math threads (the numbers are the same either way: the thread count is fixed).
The DDPM study (notebook 06b) keeps its budget in the same shape (`STUDY_BUDGETS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.classify.presets import CPU_WORKERS  # runs side by side on a CPU, as the grid's
from helpers.classify.presets import PRESETS as GRID
from helpers.data.duplicates import DEFAULT_THRESHOLD
from helpers.presets import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_INT, Preset, Rule, Table

HONEST_THRESHOLD = DEFAULT_THRESHOLD  # the course's grouping threshold, the guard's too
THRESHOLDS = (0.90, 0.95, 0.97, 0.99)


@dataclass(frozen=True)
class PitfallsPreset(Preset):
    arch: str
    epochs: int
    bs: int
    lr: float
    folds: int
    repeats: int
    seeds: tuple[int, ...]
    thresholds: tuple[float, ...] = THRESHOLDS
    generator: str = "dcgan"
    gen_steps: int | None = None  # None: the generator's preset
    syn_test_frac: float = 0.2
    n_boot: int = 1000
    threads: int | None = None
    workers: int | None = None
    tta: bool = False  # predict each test image and its mirror image (helpers.classify.engine)

    RULES = {
        "epochs": POSITIVE_INT, "bs": POSITIVE_INT, "lr": POSITIVE, "folds": Rule(lo=2), "repeats": POSITIVE_INT,
        "seeds": NON_NEGATIVE, "thresholds": Rule(lo=0, hi=1), "gen_steps": POSITIVE_INT,
        "syn_test_frac": FRACTION, "n_boot": POSITIVE_INT, "threads": POSITIVE_INT, "workers": POSITIVE_INT,
    }
    STAGE = "The pitfalls budget"


PRESETS = Table("the pitfalls budget", {
    "smoke": PitfallsPreset(arch="tiny", epochs=1, bs=16, lr=3e-3, folds=3, repeats=2, seeds=(0,), thresholds=THRESHOLDS,
                            generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=200, threads=1, workers=1),
    # quick: the classifier grid's network and budget (measured in helpers.classify.presets)
    "quick": PitfallsPreset(arch="tiny", epochs=30, bs=32, lr=3e-3, folds=3, repeats=3, seeds=(0, 1),
                            thresholds=THRESHOLDS, generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=1000,
                            threads=1, workers=CPU_WORKERS, tta=True),
    "paper": PitfallsPreset(arch="resnet18", epochs=10, bs=32, lr=1e-3, folds=10, repeats=3, seeds=(0, 1, 2),
                            thresholds=THRESHOLDS, generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=2000,
                            threads=None, workers=None),
})


@dataclass(frozen=True)
class StudyBudget(PitfallsPreset):
    """The DDPM study's budget (notebook 06b): the pitfalls' fields, its own name in errors."""

    STAGE = "The DDPM study budget"


def _study_budget(profile: str) -> StudyBudget:
    """The classifier grid's network, epochs, learning rate and seeds (notebook 08's
    `real+syn:ddpm@n` runs) in the pitfalls' terms; on the paper profile, the study's own
    classifier: EfficientNetV2-L, Adam 1e-4, batch 16, 50 epochs."""
    g, p = GRID[profile], PRESETS[profile]
    base = dict(p.as_dict(), arch=g.archs[0], epochs=g.epochs or 10, lr=g.lr or 1e-3, seeds=g.seeds,
                threads=p.threads if g.threads is None else g.threads)
    if profile == "paper":
        base.update(arch="efficientnet_v2_l", epochs=50, lr=1e-4, bs=16)
    return StudyBudget(**base)


STUDY_BUDGETS = Table("the DDPM study budget", {profile: _study_budget(profile) for profile in GRID})

# Which published study used which shortcut (helpers.classify.published.STUDIES has the details).
STUDIES = {
    "random-split": "BUSI study (Al-Dhabyani et al.): 70/15/15 split, near-duplicates not grouped",
    "loose-groups": "none (a looser grouping than the course's 0.97)",
    "stricter-groups": "none (a stricter grouping than the course's 0.97)",
    "generator-saw-test": "DCGAN study (Samrin) and WGAN study (Diyasa et al.): generators trained on all images",
    "synthetic-in-test": "DDPM study (Sutjiadi et al.): 80/20 split of the combined real + synthetic set",
    "overlays": "none of the five reports masking text or calipers",
    "single-split": "BUSI, WGAN and DDPM studies: one train/test split (the DCGAN study: 10 folds)",
}

preset = PRESETS.of  # preset(profile, **changes): None values are not given, unknown keys refused
