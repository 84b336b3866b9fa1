"""Reading a finished grid: predictions per run, tables pooled over folds with bootstrap CIs,
and paired differences against real-only on the same test images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.classify.engine import PREDS
from helpers.classify.grid_run import run_dir
from helpers.classify.metrics import HEADLINE, bootstrap, paired_difference, score


def load_predictions(out_dir, results: pd.DataFrame) -> pd.DataFrame:
    """Every finished run's test predictions, with its run / arch / setting columns."""
    parts = []
    for r in results.itertuples():
        p = pd.read_csv(run_dir(out_dir, r.run) / PREDS)
        parts.append(p.assign(run=r.run, arch=r.arch, setting=r.setting))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _proba(df: pd.DataFrame, classes) -> np.ndarray:
    return df[[f"p_{c}" for c in classes]].to_numpy()


def pooled_table(preds: pd.DataFrame, classes, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (arch, setting): metrics on all folds' test predictions pooled (each image
    scored once per seed by the model that never saw it), with a bootstrap CI that draws whole
    near-duplicate groups. Also the number of folds/seeds and the spread over folds."""
    rows = []
    if preds.empty:
        return pd.DataFrame()
    for (arch, setting), d in preds.groupby(["arch", "setting"], sort=False):
        ci = bootstrap(d["label"], _proba(d, classes), classes, n_boot, seed, groups=d["group"])
        per_fold = [score(g["label"], _proba(g, classes), classes)["accuracy"] for _, g in d.groupby(["fold", "seed"])]
        row = dict(arch=arch, setting=setting, n_folds=d["fold"].nunique(), n_seeds=d["seed"].nunique(),
                   n_test=len(d), acc_fold_sd=float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else np.nan)
        for r in ci.itertuples():
            row[r.metric], row[f"{r.metric}_lo"], row[f"{r.metric}_hi"] = r.value, r.lo, r.hi
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(preds: pd.DataFrame, classes, baseline: str = "real", metrics=HEADLINE, n_boot: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """Each setting minus `baseline` on the same test images (same folds and seeds), with a
    paired bootstrap CI over near-duplicate groups."""
    rows = []
    if preds.empty:
        return pd.DataFrame()
    key = ["path", "fold", "seed"]
    for arch, da in preds.groupby("arch", sort=False):
        base = da[da["setting"] == baseline]
        if base.empty:
            continue
        for setting, d in da.groupby("setting", sort=False):
            if setting == baseline:
                continue
            m = base.merge(d, on=key, suffixes=("_a", "_b"))
            if m.empty:
                continue
            pa = m[[f"p_{c}_a" for c in classes]].to_numpy()
            pb = m[[f"p_{c}_b" for c in classes]].to_numpy()
            diff = paired_difference(m["label_a"], pa, pb, classes, n_boot, seed, groups=m["group_a"], metrics=metrics)
            for r in diff.itertuples():
                rows.append(dict(arch=arch, setting=setting, baseline=baseline, metric=r.metric, diff=r.diff,
                                 lo=r.lo, hi=r.hi, p=r.p, n_test=len(m)))
    return pd.DataFrame(rows)

