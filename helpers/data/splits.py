"""Splits stratified by class and grouped by near-duplicate group.

No group may straddle two parts: otherwise a near-identical copy of a test image sits in
the training set and the test score measures memory, not generalisation. Both the
train/val/test split and the k folds use scikit-learn's StratifiedGroupKFold, which keeps
groups whole while balancing class proportions across parts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from helpers.data.records import DataError


def _one_fold(labels, groups, n_splits, seed, pick=0):
    """Indices (rest, held) of one StratifiedGroupKFold fold with ~1/n_splits held out."""
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (rest, held) in enumerate(sgkf.split(np.zeros(len(labels)), labels, groups)):
        if k == pick:
            return rest, held
    raise AssertionError("unreachable")


def grouped_split(records: pd.DataFrame, val_frac: float = 0.15, test_frac: float = 0.15,
                  seed: int = 0) -> pd.Series:
    """A `split` column (train / val / test), ~70/15/15 by default, groups kept whole."""
    if not (0 < test_frac < 1 and 0 <= val_frac < 1 and val_frac + test_frac < 1):
        raise ValueError("val_frac and test_frac must be in [0, 1) and sum to less than 1.")
    labels, groups = records["label"].to_numpy(), records["group"].to_numpy()
    split = np.array(["train"] * len(records), dtype=object)
    n_test = max(2, round(1 / test_frac))
    # a test part of 1/n needs n groups per class, whatever the number of folds
    _check_enough(records, n_test, f"the held-out test part (test_frac {test_frac:g}, one part in {n_test})",
                  "or, from Python, a larger cfg.test_frac (the number of folds does not change this)")
    rest, test = _one_fold(labels, groups, n_test, seed)
    split[test] = "test"
    if val_frac > 0:
        # val is val_frac of the whole, i.e. val_frac / (1 - test_frac) of what remains.
        n = max(2, round((1 - test_frac) / val_frac))
        _check_enough(records.iloc[rest], n, f"the validation part (val_frac {val_frac:g}, one part in {n} of "
                      "what the test part leaves)", "or, from Python, a larger cfg.val_frac")
        _, val = _one_fold(labels[rest], groups[rest], n, seed + 1)
        split[rest[val]] = "val"
    return pd.Series(split, index=records.index, name="split")


def grouped_folds(records: pd.DataFrame, n_folds: int = 10, seed: int = 0) -> pd.Series:
    """A `fold` column 0..n_folds-1: fold k is the test part of the k-th cross-validation round."""
    if not (isinstance(n_folds, (int, np.integer)) and n_folds >= 2):
        raise DataError(f"n_folds wants a whole number >= 2 (each fold is tested by a model trained on the "
                        f"others); got {n_folds!r}. Use `python -m helpers prepare --folds N`.")
    _check_enough(records, n_folds, f"{n_folds} grouped folds", "use fewer folds (prepare --folds N, at least 2)")
    fold = np.zeros(len(records), dtype=int)
    sgkf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(sgkf.split(np.zeros(len(records)), records["label"], records["group"])):
        fold[held] = k
    return pd.Series(fold, index=records.index, name="fold")


def random_split(records: pd.DataFrame, val_frac: float = 0.15, test_frac: float = 0.15,
                 seed: int = 0) -> pd.Series:
    """The common, leaky alternative: stratified by class but blind to groups (for comparison)."""
    idx = np.arange(len(records))
    rest, test = train_test_split(idx, test_size=test_frac, stratify=records["label"], random_state=seed)
    split = np.array(["train"] * len(records), dtype=object)
    split[test] = "test"
    if val_frac > 0:
        _, val = train_test_split(rest, test_size=val_frac / (1 - test_frac),
                                  stratify=records["label"].to_numpy()[rest], random_state=seed + 1)
        split[val] = "val"
    return pd.Series(split, index=records.index, name="split")


def straddling_groups(records: pd.DataFrame, column: str) -> list:
    """Groups whose images fall in more than one part of `column` (should be empty)."""
    parts = records.groupby("group")[column].nunique()
    return parts[parts > 1].index.tolist()


def assert_grouped(records: pd.DataFrame, column: str) -> None:
    bad = straddling_groups(records, column)
    if bad:
        raise DataError(f"{len(bad)} near-duplicate group(s) straddle parts of '{column}' (e.g. group {bad[0]}); "
                        "rebuild the splits with `python -m helpers prepare`.")


def _check_enough(records: pd.DataFrame, n_parts: int, what: str, fix: str) -> None:
    """Refuse `what` (a split into n_parts) where a class has fewer groups than parts: say
    which part needs them and what changes it (`fix`)."""
    per_class = records.groupby("class_name")["group"].nunique()
    small = per_class[per_class < n_parts]
    if len(small):
        raise DataError(f"Class '{small.index[0]}' has only {small.iloc[0]} independent image group(s) (near-"
                        f"duplicates count once), too few for {what}, which needs {n_parts} per class. Add "
                        f"images of that class, {fix}.")


def composition(records: pd.DataFrame, column: str = "split") -> pd.DataFrame:
    """Images per class in each part (a table for the notebooks)."""
    return pd.crosstab(records["class_name"], records[column], margins=True)
