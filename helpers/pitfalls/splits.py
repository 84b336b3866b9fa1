"""Fold assignments for the protocols of notebook 09.

- `random_folds`: stratified by class, blind to near-duplicates (what `train_test_split` or
  `StratifiedKFold` give, and what the BUSI study's split was);
- `grouped_folds_at`: near-duplicate groups rebuilt at a threshold (Pearson correlation of
  32x32 thumbnails, connected components; `helpers.data.duplicates`), then scikit-learn's
  `StratifiedGroupKFold`, so no group straddles two folds;
- `repeated`: the honest grouped folds redrawn with other seeds (the spread of one split).

A `Protocol` carries the fold column, the group column the guard should check, and the name
of the shortcut it takes (`None` when it is honest), so a run cannot pretend to be honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from helpers.classify.protocol import protocol_name
from helpers.data.duplicates import correlation_matrix, find_groups
from helpers.data.records import DataError
from helpers.data.splits import grouped_folds
from helpers.pitfalls.presets import HONEST_THRESHOLD


@dataclass(frozen=True, eq=False)
class Protocol:
    """A named way to cut the data into folds. `leak` names the shortcut the guard lets
    through (helpers.classify.protocol.LEAKS), None for an honest protocol."""

    name: str
    leak: str | None
    fold: pd.Series = None
    group: pd.Series = None
    threshold: float = float("nan")  # grouping threshold (nan: no grouping)
    repeat: int = 0
    seed: int = 0

    @property
    def label(self) -> str:
        return protocol_name(self.leak)

    def records(self, records: pd.DataFrame) -> pd.DataFrame:
        """The records with this protocol's `fold` and `group` columns."""
        return records.assign(fold=self.fold.to_numpy(), group=self.group.to_numpy())


def regroup(records: pd.DataFrame, thumbs: np.ndarray, threshold: float) -> pd.Series:
    """Near-duplicate group ids at `threshold` (connected components of r > threshold)."""
    grouped, _ = find_groups(records, thumbs, threshold)
    return grouped["group"].rename("group")


def grouped_folds_at(records: pd.DataFrame, thumbs: np.ndarray, threshold: float, k: int,
                     seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """(fold, group) with groups rebuilt at `threshold`; DataError when some class has fewer
    than k groups left (a low threshold can chain most images into one group)."""
    group = regroup(records, thumbs, threshold)
    fold = grouped_folds(records.assign(group=group.to_numpy()), k, seed=seed)
    return fold, group


def random_folds(records: pd.DataFrame, k: int, seed: int = 0) -> pd.Series:
    """Folds stratified by class and blind to groups."""
    fold = np.zeros(len(records), dtype=int)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for i, (_, held) in enumerate(skf.split(np.zeros(len(records)), records["label"])):
        fold[held] = i
    return pd.Series(fold, index=records.index, name="fold")


def nearest_in_training(fold, thumbs: np.ndarray) -> np.ndarray:
    """For every image, its highest thumbnail correlation with an image of ANOTHER fold (the
    training part when its own fold is tested)."""
    c = correlation_matrix(thumbs)
    f = np.asarray(fold)
    c[f[:, None] == f[None, :]] = -1.0
    return c.max(axis=1)


def near_duplicate_protocols(records: pd.DataFrame, thumbs: np.ndarray, k: int, seed: int = 0,
                             thresholds=(0.90, 0.95, 0.97, 0.99), honest: float = HONEST_THRESHOLD
                             ) -> tuple[list[Protocol], dict]:
    """A random split and grouped folds at each threshold; returns (protocols, skipped) where
    skipped names the thresholds whose groups cannot be cut into k folds, and why."""
    honest_group = regroup(records, thumbs, honest)
    out = [Protocol("random split", "random-split", random_folds(records, k, seed), honest_group, seed=seed)]
    skipped = {}
    for t in sorted(thresholds):
        try:
            fold, group = grouped_folds_at(records, thumbs, t, k, seed)
        except DataError as e:
            skipped[f"grouped@{t:.2f}"] = str(e)
            continue
        leak = "loose-groups" if t > honest else None
        out.append(Protocol(f"grouped@{t:.2f}", leak, fold, group, threshold=t, seed=seed))
    return out, skipped


def repeated(records: pd.DataFrame, thumbs: np.ndarray, k: int, seed: int = 0, repeats: int = 3,
             threshold: float = HONEST_THRESHOLD) -> list[Protocol]:
    """The honest grouped folds drawn `repeats` times (seed, seed + 1, ...); repeat 0 is the
    honest protocol of `near_duplicate_protocols`."""
    return [Protocol(f"grouped@{threshold:.2f}", None, *grouped_folds_at(records, thumbs, threshold, k, seed + r),
                     threshold=threshold, repeat=r, seed=seed + r) for r in range(repeats)]
