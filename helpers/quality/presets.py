"""The quality stage's settings per profile (see helpers/config.py for the shared ones).

`extractor_*`: the domain classifier whose features FID/KID/precision/recall use; `repeats`
halves of the real-vs-real baseline; `kid_subsets` and `pr_k` (k-NN radius) of the metrics;
`thumb` and `calib_quantile` of the memorisation check; `tstr_*` the train-on-synthetic
classifier; `ssl_steps` the self-supervised encoder; `score_per_class` images drawn from each
trained generator; `generators` the sets notebook 07 scores; `gallery` images per figure.
A run's `--set` changes reach every quality function through its config (`preset(cfg)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.presets import POSITIVE_INT, Preset, Rule, Table

GENERATORS = ("wgan", "wgan-gp", "dcgan", "cwgan", "ddpm", "flow")
STAGE = "quality"  # the key of this stage's changes in Config.stage_changes


@dataclass(frozen=True)
class QualityPreset(Preset):
    extractor_steps: int
    extractor_width: int
    extractor_dim: int
    extractor_batch: int
    repeats: int
    kid_subsets: int
    pr_k: int
    thumb: int
    calib_quantile: float
    tstr_steps: int
    tstr_batch: int
    ssl_steps: int
    score_per_class: int
    generators: tuple[str, ...] = GENERATORS
    gallery: int = 8

    RULES = {name: POSITIVE_INT for name in ("extractor_steps", "extractor_width", "extractor_dim", "extractor_batch",
                                             "repeats", "kid_subsets", "pr_k", "thumb", "tstr_steps", "tstr_batch",
                                             "ssl_steps", "score_per_class", "gallery")}
    RULES["calib_quantile"] = Rule(lo=0, hi=1, open_lo=True, open_hi=True)
    STAGE = "The quality stage"


PRESETS = Table("the quality stage", {
    # smoke: a handful of images per class, so the numbers only show that the code runs.
    "smoke": QualityPreset(extractor_steps=30, extractor_width=8, extractor_dim=32, extractor_batch=32, repeats=2,
                           kid_subsets=20, pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=15, tstr_batch=32,
                           ssl_steps=10, score_per_class=8, generators=GENERATORS, gallery=6),
    # quick: TSTR at 100 steps and the SSL encoder at 200 keep notebook 07 within the course's
    # time; against 150 and 300 the TSTR accuracies moved by at most 0.11 (the DDPM's) and the two
    # FID rankings stayed in the same order.
    "quick": QualityPreset(extractor_steps=300, extractor_width=16, extractor_dim=64, extractor_batch=64, repeats=5,
                           kid_subsets=100, pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=100, tstr_batch=64,
                           ssl_steps=200, score_per_class=160, generators=GENERATORS, gallery=8),
    "paper": QualityPreset(extractor_steps=2000, extractor_width=32, extractor_dim=64, extractor_batch=128, repeats=10,
                           kid_subsets=100, pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=1500, tstr_batch=128,
                           ssl_steps=3000, score_per_class=500, generators=GENERATORS, gallery=8),
})


def preset(cfg_or_profile) -> QualityPreset:
    """The quality preset of a run's config (its profile, with the run's changes to this stage,
    `cfg.stage_changes["quality"]`) or of a profile name."""
    profile = getattr(cfg_or_profile, "profile", cfg_or_profile)
    changes = getattr(cfg_or_profile, "stage_changes", {}).get(STAGE, {})
    return PRESETS.of(profile, **changes)
