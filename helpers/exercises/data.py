"""Checks for the exercises of notebooks 01 (data acquisition) and 02 (preprocessing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.exercises import report


def check_images_needed(fn) -> bool:
    """fn(counts: dict, target: int) -> dict of synthetic images needed per class."""
    from helpers.synth import balance_counts

    cases = [({"benign": 437, "normal": 133, "malignant": 210}, 487),
             ({"benign": 437, "normal": 133, "malignant": 210}, 437),
             ({"a": 10, "b": 30}, 20)]
    for counts, target in cases:
        got, want = fn(dict(counts), target), balance_counts(counts, target=target)
        if {k: int(v) for k, v in got.items()} != want:
            return report(False, "images needed per class", f"for {counts} and target {target} expected {want}, got {got}")
    return report(True, "images needed per class (the WGAN study's 487 and the DCGAN study's 437)")


def check_correlation_matrix(fn) -> bool:
    """fn(thumbs: (N, h, w) array) -> (N, N) Pearson correlation matrix."""
    from helpers.data.duplicates import correlation_matrix

    rng = np.random.default_rng(0)
    thumbs = rng.normal(size=(6, 8, 8))
    thumbs[3] = thumbs[0] * 3 + 1  # a brighter, higher-contrast copy: correlation 1
    got, want = np.asarray(fn(thumbs), dtype=float), correlation_matrix(thumbs)
    if got.shape != want.shape:
        return report(False, "correlation matrix", f"shape should be {want.shape}, got {got.shape}")
    if not np.allclose(got, want, atol=1e-6):
        return report(False, "correlation matrix", f"max difference {np.abs(got - want).max():.3g}; "
                      "remember to subtract each thumbnail's mean and divide by its norm")
    return report(True, "Pearson correlation of thumbnails")


def check_twins_across(fn) -> bool:
    """fn(records, thumbs, column) -> number of test images with a near-twin in train."""
    from helpers.data.duplicates import twins_across

    rng = np.random.default_rng(1)
    base = rng.normal(size=(10, 8, 8))
    thumbs = np.concatenate([base, base[:4] + 0.01 * rng.normal(size=(4, 8, 8))])
    split = ["train"] * 10 + ["test", "test", "train", "val"]
    records = pd.DataFrame({"split": split})
    got, want = int(fn(records, thumbs, "split")), twins_across(records, thumbs, "split")
    return report(got == want, "test images with a near-twin in train", f"expected {want}, got {got}")
