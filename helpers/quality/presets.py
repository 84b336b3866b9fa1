"""The quality stage's settings per profile (see helpers/config.py for the shared ones)."""

from __future__ import annotations

PRESETS = {
    # smoke: a handful of images per class, so the numbers only show that the code runs.
    "smoke": dict(extractor_steps=30, extractor_width=8, extractor_dim=32, extractor_batch=32, repeats=2, kid_subsets=20,
                  pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=15, tstr_batch=32, ssl_steps=10, score_per_class=8,
                  generators=("wgan", "wgan-gp", "dcgan", "cwgan", "ddpm"), gallery=6),
    "quick": dict(extractor_steps=300, extractor_width=16, extractor_dim=64, extractor_batch=64, repeats=5, kid_subsets=100,
                  pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=150, tstr_batch=64, ssl_steps=300,
                  score_per_class=160,
                  generators=("wgan", "wgan-gp", "dcgan", "cwgan", "ddpm"), gallery=8),
    "paper": dict(extractor_steps=2000, extractor_width=32, extractor_dim=64, extractor_batch=128, repeats=10, kid_subsets=100,
                  pr_k=3, thumb=32, calib_quantile=0.99, tstr_steps=1500, tstr_batch=128, ssl_steps=3000,
                  score_per_class=500,
                  generators=("wgan", "wgan-gp", "dcgan", "cwgan", "ddpm"), gallery=8),
}


def preset(cfg_or_profile) -> dict:
    profile = getattr(cfg_or_profile, "profile", cfg_or_profile)
    if profile not in PRESETS:
        raise ValueError(f"No quality preset for profile {profile!r}; choose one of {', '.join(PRESETS)}.")
    return dict(PRESETS[profile])
