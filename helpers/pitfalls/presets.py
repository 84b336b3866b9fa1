"""Budgets per profile, and which published study used which shortcut.

Every protocol of notebook 09 trains the SAME network for the SAME epochs on the same images;
only the protocol changes. `folds` is the number of grouped (or random) folds each
fold-based protocol uses; `repeats` how many times the honest folds are redrawn (the single
split's spread); `seeds` the classifier seeds of the split-based protocols (generator and
synthetic test). `workers`: cells trained side by side in processes on a CPU, each with
`threads` math threads (the numbers are the same either way: the thread count is fixed).
"""

from __future__ import annotations

from helpers.classify.grid import CPU_WORKERS  # cells side by side on a CPU, as the grid's
from helpers.data.duplicates import DEFAULT_THRESHOLD
from helpers.errors import SettingError

HONEST_THRESHOLD = DEFAULT_THRESHOLD  # the course's grouping threshold, the guard's too
THRESHOLDS = (0.90, 0.95, 0.97, 0.99)

PRESETS = {
    "smoke": dict(arch="tiny", epochs=1, bs=16, lr=3e-3, folds=3, repeats=2, seeds=(0,), thresholds=THRESHOLDS,
                  generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=200, threads=1, workers=1),
    "quick": dict(arch="tiny", epochs=4, bs=32, lr=3e-3, folds=3, repeats=3, seeds=(0, 1), thresholds=THRESHOLDS,
                  generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=1000, threads=1,
                  workers=CPU_WORKERS),
    "paper": dict(arch="resnet18", epochs=10, bs=32, lr=1e-3, folds=10, repeats=3, seeds=(0, 1, 2),
                  thresholds=THRESHOLDS, generator="dcgan", gen_steps=None, syn_test_frac=0.2, n_boot=2000,
                  threads=None, workers=None),
}

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


def preset(profile: str, **changes) -> dict:
    """The profile's budget with `changes` applied (unknown keys are refused)."""
    if profile not in PRESETS:
        raise SettingError(f"Unknown profile {profile!r}; choose one of {', '.join(PRESETS)}.")
    out = dict(PRESETS[profile])
    unknown = sorted(set(changes) - set(out))
    if unknown:
        raise SettingError(f"Unknown pitfalls setting {unknown[0]!r}; known: {', '.join(out)}.")
    out.update({k: v for k, v in changes.items() if v is not None})
    return out
