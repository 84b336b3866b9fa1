"""Checks for the exercises of notebooks 01 (data acquisition), 02 (preprocessing) and 05b
(histopathology: patients as groups)."""

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
    base = rng.normal(size=(12, 8, 8))
    twin = base[[0, 1, 2, 3, 10, 11]] + 0.01 * rng.normal(size=(6, 8, 8))
    thumbs = np.concatenate([base, twin])
    # 0-9 train, 10 val, 11 test; twins: of 0 and 1 (train) in test, of 2 in train, of 3 in val,
    # of 10 (val) in test, and of 11 (test) in test: only the two twins of training images count
    split = ["train"] * 10 + ["val", "test"] + ["test", "test", "train", "val", "test", "test"]
    records = pd.DataFrame({"split": split})
    got, want = int(fn(records, thumbs, "split")), twins_across(records, thumbs, "split")
    if got == want:
        return report(True, "test images with a near-twin in train")
    hint = {3: "Validation images are not training images: count twins among the 'train' rows only.",
            5: "Compare each test image with the training images only (not with the other test images)."}
    return report(False, "test images with a near-twin in train",
                  f"expected {want}, got {got}. " + hint.get(got, "A test image counts once, however many twins."))


def _reference(records: pd.DataFrame, column: str) -> list:
    parts = records.groupby("patient")[column].nunique()
    return sorted(parts[parts > 1].index)


def check_straddling_patients(fn) -> None:
    """fn(records, column) -> sorted list of the patients whose images fall in more than one
    part of `column` (split or fold)."""
    # p1 straddles train/test; p2 is whole; p3 straddles val/test; group ids say nothing of patients
    records = pd.DataFrame(dict(patient=["p1", "p1", "p2", "p2", "p3", "p3", "p3"],
                                group=[0, 1, 2, 2, 3, 4, 5],
                                split=["train", "test", "val", "val", "val", "test", "test"],
                                fold=[0, 0, 1, 1, 2, 2, 2]))
    for column in ("split", "fold"):
        got, want = fn(records.copy(), column), _reference(records, column)
        if isinstance(got, (int, float)):
            return report(False, "patients in more than one part", "return the patients themselves (a list), "
                          "not how many there are")
        got = sorted(got)
        if got != want:
            hint = ("count the distinct parts per *patient*, not per group" if set(got) != set(want) and
                    len(got) > len(want) else "a patient straddles when its images have more than one distinct value "
                    "of the column")
            return report(False, "patients in more than one part", f"for column {column!r} expected {want}, got "
                          f"{got}: {hint}")
    return report(True, "patients in more than one part (split and fold)")
