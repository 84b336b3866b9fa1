"""The course report's key results: each stage's results file as one short table.

Each table reads the CSV a notebook (or its command) wrote under RUNS/ and returns None when
the run has none, so a partial course still gets a report. The stages format their own
numbers (`quality.report.summary`, the pitfalls' `pretty` tables); this module only picks
them and says what each shows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.pitfalls import synthetic_in_test
from helpers.pitfalls import tables as pitfalls_tables
from helpers.quality import report as quality_report


def classify_summary(runs: Path) -> pd.DataFrame | None:
    """RUNS/classify/results.csv (one row per run) as one row per architecture and setting:
    a single run's bootstrap 95% CI, or the mean and spread over folds and seeds."""
    csv = runs / "classify" / "results.csv"
    if not csv.exists():
        return None
    res = pd.read_csv(csv)
    rows = []
    for (arch, setting), part in res.groupby(["arch", "setting"], sort=False):
        row = {"arch": arch, "setting": setting, "runs": len(part)}
        for m in ("accuracy", "f1_macro", "auc_macro"):
            if m not in part:
                continue
            v = part[m]
            if len(part) == 1 and f"{m}_lo" in part:
                row[m] = f"{v.iloc[0]:.3f} [{part[m + '_lo'].iloc[0]:.3f}, {part[m + '_hi'].iloc[0]:.3f}]"
            else:
                row[m] = f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def quality_summary(runs: Path) -> pd.DataFrame | None:
    """The 'all' rows of RUNS/quality/quality.csv, each score beside its real-vs-real value."""
    csv = runs / "quality" / "quality.csv"
    if not csv.exists():
        return None
    table = pd.read_csv(csv)
    try:
        return quality_report.summary(table, "all").reset_index()
    except Exception:  # another column set (older run): the plain rows still inform
        return table[table["class_name"] == "all"].round(3)


def pitfalls_summary(runs: Path) -> pd.DataFrame | None:
    """RUNS/pitfalls/closing_table.csv (notebook 09): each shortcut beside its honest protocol."""
    csv = runs / "pitfalls" / "closing_table.csv"
    if not csv.exists():
        return None
    return pitfalls_tables.pretty(pd.read_csv(csv)).drop(columns=["interval"])


def ddpm_study_summary(runs: Path) -> pd.DataFrame | None:
    """RUNS/ddpm_study/table.csv (notebook 06b): the DDPM study's scenarios under both test protocols."""
    csv = runs / "ddpm_study" / "table.csv"
    if not csv.exists():
        return None
    return synthetic_in_test.pretty(pd.read_csv(csv))


def key_tables(runs: Path) -> list[tuple[str, pd.DataFrame, str, str]]:
    """(title, table, its CSV below RUNS/, what it shows) for each results file the run has, in
    the report's order."""
    tables = [("Classifier comparison", classify_summary(runs), "classify/results.csv",
               "one run: its value [bootstrap 95% CI]; several folds or seeds: mean ± sd over the runs. "
               "Notebook 08 pools them and puts the studies' published numbers beside them."),
              ("Synthetic image quality, all classes", quality_summary(runs), "quality/quality.csv",
               "in brackets: the same score between two halves of the real training images (the floor)."),
              ("The DDPM study's scenarios under both test protocols", ddpm_study_summary(runs),
               "ddpm_study/table.csv", "the same models scored on real test images only and on the study's 80/20 "
               "split of real + synthetic images; published numbers from INbreast."),
              ("What each protocol shortcut adds", pitfalls_summary(runs), "pitfalls/closing_table.csv",
               "inflation: the shortcut's accuracy minus its honest protocol's on the same images, paired 95% CI "
               "(the single-split row gives a range, not a CI).")]
    return [t for t in tables if t[1] is not None]
