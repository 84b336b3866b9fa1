"""What the experiment grid runs: data settings, folds, and one id per run.

Data settings (the BUSI study's four columns, per generator):
    real              the real training part only
    real+trad         + traditional augmentation (`helpers.data.augment`)
    real+syn:G        + the synthetic set of generator G (class-balanced, as exported)
    real+trad+syn:G   both
and the DDPM study's scenario sweep `real+syn:G@n`: n synthetic images per class
(0 / 50 / 125 / 250; n = 0 is the `real` run, so it is not trained twice).

A run is (architecture, setting, fold, seed): it trains on the training part of ONE fold (all
other folds) and is scored on that fold's real images. "Fold" SPLIT (-1) means the prepared
train/val/test split instead: train on train + val, score on test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from helpers.errors import SettingError

SPLIT = -1  # the "fold" of the train/val/test split


def parts(records: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(real training records, evaluation records) of a fold, or of the split for SPLIT."""
    if fold == SPLIT:
        train, test = records[records["split"] != "test"], records[records["split"] == "test"]
    else:
        train, test = records[records["fold"] != fold], records[records["fold"] == fold]
    return train.reset_index(drop=True), test.reset_index(drop=True)


def generator_records(records: pd.DataFrame, fold: int) -> pd.DataFrame:
    """What a generator for this fold trains on: the fold's training part (for SPLIT, the
    split's train part, exactly what the generator notebooks use)."""
    if fold == SPLIT:
        return records[records["split"] == "train"].reset_index(drop=True)
    return parts(records, fold)[0]


def fold_list(records: pd.DataFrame, folds) -> list[int]:
    """A preset's `folds` as fold ids: "split" -> [SPLIT], n -> the first n folds, None -> all."""
    all_folds = sorted(int(f) for f in records["fold"].unique())
    if folds == "split":
        return [SPLIT]
    return all_folds if folds is None else all_folds[: int(folds)]


@dataclass(frozen=True)
class Setting:
    """What a classifier trains on: augmentation policy and an optional synthetic set."""

    name: str
    augment: str = "none"
    generator: str | None = None
    per_class: int | None = None  # None: the whole (balanced) exported set

    @classmethod
    def parse(cls, name: str, augment: str = "busi_study") -> Setting:
        m = re.fullmatch(r"real(\+trad)?(?:\+syn:([\w.-]+)(?:@(\d+))?)?", name)
        if not m:
            raise SettingError(f"Unknown data setting {name!r}: use real, real+trad, real+syn:<generator>, "
                               "real+trad+syn:<generator> or real+syn:<generator>@<n per class>.")
        trad, gen, n = m.groups()
        if n is not None and int(n) == 0:
            return cls("real+trad" if trad else "real", augment if trad else "none")
        return cls(name, augment if trad else "none", gen, int(n) if n is not None else None)


def scenario_settings(generator: str, per_class=(0, 50, 125, 250)) -> list[Setting]:
    """The DDPM study's sweep: n synthetic images per class added to the real training part."""
    return [Setting.parse(f"real+syn:{generator}@{n}") for n in per_class]


def run_id(arch: str, setting: str, fold: int, seed: int) -> str:
    """The id of a run in results.csv, e.g. 'tiny|real+syn:dcgan|fold0|seed0'."""
    return f"{arch}|{setting}|{'split' if fold == SPLIT else f'fold{fold}'}|seed{seed}"


def run_dirname(rid: str) -> str:
    """A run id as a folder name."""
    return re.sub(r"[^\w.@+-]+", "_", rid)


def plan(records: pd.DataFrame, archs, settings, folds=None, seeds=(0,)) -> list[tuple]:
    """Every (arch, setting, fold, seed) run, settings' duplicates removed. Ordered fold by
    fold, so a grid stopped early leaves whole folds (every setting on the same test images)."""
    all_folds = sorted(int(f) for f in records["fold"].unique()) + [SPLIT]
    folds = all_folds[:-1] if folds is None else [f for f in folds if f in all_folds]
    uniq = list(dict.fromkeys(settings))
    return [(a, s, f, sd) for f in folds for sd in seeds for a in archs for s in uniq]
