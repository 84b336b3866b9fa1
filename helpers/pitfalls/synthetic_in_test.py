"""Synthetic images in the test set, the DDPM study's protocol (notebook 06b, `ddpm-study`),
beside the honest one, per scenario (+0 / +50 / +125 / +250 synthetic images per class).

The study added n synthetic images per class to its real mammograms and split the combined set
80/20, so a fifth of the synthetic images ended up in its test set. Here every model is trained
once per scenario and seed, on the real training images plus 80% of the n synthetic images of
each class, and reported twice:
- on the real test images only (the honest protocol), and
- on those plus the other 20% of the synthetic images (the study's protocol).
Both numbers come from the SAME model, so their difference is what the protocol adds; its CI
resamples real patients (groups) and synthetic images together (`tables.mixed_inflation`).
The real images keep their grouped split (a patient's left and right breasts stay together);
only the synthetic images are split at random, as the study split them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from helpers.classify.bootstrap import ci_text, verdict
from helpers.classify.data import TRAIN_COLUMNS, synthetic_rows
from helpers.classify.presets import PRESETS as GRID
from helpers.classify.published import DDPM_SCENARIOS
from helpers.classify.settings import SPLIT, parts
from helpers.classify.synthetic import fold_synthetic, per_class_set
from helpers.pitfalls import tables
from helpers.pitfalls.presets import STUDY_BUDGETS
from helpers.pitfalls.runs import ImageBank, Job, View, run_jobs

REAL_TEST, STUDY_TEST = "real test images (honest)", "80/20 split of real + synthetic (the study's)"


# budget(profile, **changes): notebook 08's classifier budget in the pitfalls' terms (presets.STUDY_BUDGETS)
budget = STUDY_BUDGETS.of


def scenarios(profile: str) -> tuple:
    """Synthetic images per class of the profile's sweep (0 = real only): 0/50/125/250 on quick."""
    return GRID[profile].scenario


def synthetic_set(cfg, records: pd.DataFrame, scenarios, progress: bool = True):
    """The manifest of max(scenarios) DDPM images of EVERY class (the study added n of each),
    drawn from the class-conditional DDPM trained on the split's training part: notebook 06's,
    or `train ddpm`'s, reused when it exists (else trained now). The classifier grid's sweep
    draws the same set (RUNS/synthetic/ddpm-per-class/)."""
    train, _ = parts(records, SPLIT)
    exported = fold_synthetic(cfg, "ddpm", SPLIT, train, progress=progress)
    return per_class_set(cfg, "ddpm", SPLIT, exported, max(scenarios), progress=progress)


def scenario_sets(synthetic: pd.DataFrame, n, test_frac: float, seed: int,
                  sort: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first n (or n[class]) synthetic images of each class (so +50 is part of +125, as the
    study grew its sets), cut at random into (train, test) per class (in name order if `sort`)."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c, part in synthetic.groupby("class_name", sort=sort):
        part = part.head(int(n.get(c, 0)) if isinstance(n, dict) else n)
        pick = rng.permutation(len(part))
        cut = int(round(test_frac * len(part)))
        te.append(part.iloc[pick[:cut]])
        tr.append(part.iloc[pick[cut:]])
    return pd.concat(tr, ignore_index=True), pd.concat(te, ignore_index=True)


def jobs(records: pd.DataFrame, manifest, scenarios, seeds, test_frac: float = 0.2, seed: int = 0) -> list[Job]:
    """One guarded job per (scenario, seed). The real part is the prepared split: train + val
    for training, test for testing."""
    real_train, test = (p[TRAIN_COLUMNS] for p in parts(records, SPLIT))
    classes = sorted(records["class_name"].unique())
    synthetic = synthetic_rows(manifest, None, classes)
    out = []
    for n in scenarios:
        syn_train, syn_test = scenario_sets(synthetic, int(n), test_frac, seed)
        views = [View(REAL_TEST, test)]
        if n:
            views.append(View(STUDY_TEST, pd.concat([test, syn_test[TRAIN_COLUMNS]], ignore_index=True),
                              "synthetic-in-test"))
        train = pd.concat([real_train, syn_train[TRAIN_COLUMNS]], ignore_index=True)
        for s in seeds:
            out.append(Job(train, views, seed=s, manifests=(manifest,) if n else (), all_records=records,
                           meta=dict(fold=-1, repeat=0, scenario=int(n)), tag=f"ddpm-study-{n}"))
    return out


def run(cfg, preset: dict, records: pd.DataFrame, manifest, scenarios=(0, 50, 125, 250),
        bank: ImageBank | None = None, progress: bool = True) -> pd.DataFrame:
    """Every (scenario, seed) model's predictions under both protocols (cached per run)."""
    js = jobs(records, manifest, scenarios, preset.seeds, preset.syn_test_frac, cfg.seed)
    return run_jobs(cfg, preset, js, bank, progress, desc="DDPM study scenarios")


def f1_of(preds: pd.DataFrame, class_index: int) -> float:
    """F1 of one class over the pooled predictions (the study reported the normal class's)."""
    return float(f1_score(preds["label"] == class_index, preds["pred"] == class_index, zero_division=0))


def table(preds: pd.DataFrame, classes: list[str], n_boot: int = 1000, seed: int = 0,
          published: dict | None = None) -> pd.DataFrame:
    """Per scenario: accuracy [95% CI] on real test images, under the study's protocol, the
    difference (same models) and the study's published accuracy; normal-class F1 beside."""
    published = DDPM_SCENARIOS if published is None else published
    normal = classes.index("normal") if "normal" in classes else None
    rows = []
    for n, d in preds.groupby("scenario", sort=True):
        real = d[d["view"] == REAL_TEST]
        study = d[d["view"] == STUDY_TEST] if n else real
        a_r, a_s = tables.accuracy(real, n_boot, seed), tables.accuracy(study, n_boot, seed)
        inf = tables.mixed_inflation(study, n_boot, seed) if n else dict(inflation=0.0, lo=0.0, hi=0.0)
        rows.append({"synthetic per class": int(n), "seeds": int(d["seed"].nunique()),
                     "real test: accuracy": a_r["accuracy"], "real_lo": a_r["lo"], "real_hi": a_r["hi"],
                     "study protocol: accuracy": a_s["accuracy"], "study_lo": a_s["lo"], "study_hi": a_s["hi"],
                     "difference": inf["inflation"], "diff_lo": inf["lo"], "diff_hi": inf["hi"],
                     "synthetic in test": int((study["source"] == "synthetic").sum() // max(d["seed"].nunique(), 1)),
                     "real test: F1 normal": f1_of(real, normal) if normal is not None else np.nan,
                     "study protocol: F1 normal": f1_of(study, normal) if normal is not None else np.nan,
                     "published accuracy": published.get(int(n), (np.nan, np.nan))[0],
                     "published F1 normal": published.get(int(n), (np.nan, np.nan))[1]})
    return pd.DataFrame(rows)


def pretty(t: pd.DataFrame) -> pd.DataFrame:
    """The table with each number beside its interval, for display."""
    f = ci_text
    return pd.DataFrame({
        "+ per class": t["synthetic per class"],
        "real test only [95% CI]": [f(*x) for x in t[["real test: accuracy", "real_lo", "real_hi"]].to_numpy()],
        "study's 80/20 [95% CI]": [f(*x) for x in t[["study protocol: accuracy", "study_lo", "study_hi"]].to_numpy()],
        "difference [95% CI]": [f(*x, signed=True) for x in t[["difference", "diff_lo", "diff_hi"]].to_numpy()],
        "F1 normal (real / study)": [f"{a:.2f} / {b:.2f}" for a, b in
                                     t[["real test: F1 normal", "study protocol: F1 normal"]].to_numpy()],
        "published (INbreast): acc, F1 normal": [f"{a:.2f}, {b:.2f}" for a, b in
                                                 t[["published accuracy", "published F1 normal"]].to_numpy()]})


def figure(t: pd.DataFrame, dataset: str = "", majority: float | None = None):
    """Accuracy per scenario under both protocols (95% CIs), the published accuracy beside, and
    the share of the largest class among the real test images (what always answering it scores)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = np.arange(len(t))
    for off, (name, col, lo, hi, c) in enumerate([("real test images only (honest)", "real test: accuracy", "real_lo",
                                                   "real_hi", "C0"),
                                                  ("study's 80/20 of real + synthetic", "study protocol: accuracy",
                                                   "study_lo", "study_hi", "C3")]):
        y = t[col].to_numpy()
        err = np.abs(np.stack([y - t[lo].to_numpy(), t[hi].to_numpy() - y]))
        ax.errorbar(x + (off - 0.5) * 0.12, y, yerr=err, marker="o", capsize=3, color=c, label=f"ours: {name}")
    ax.plot(x, t["published accuracy"], "k*", ms=10, ls=":", label="published (INbreast, 80/20 protocol)")
    if majority is not None:
        ax.axhline(majority, color="0.5", ls="--", lw=1, label=f"largest class's share of the real test ({majority:.2f})")
    ax.set(xticks=x, xticklabels=[f"+{n}" if n else "real only" for n in t["synthetic per class"]],
           xlabel="synthetic images added per class", ylabel="accuracy", ylim=(0, 1.02),
           title=f"DDPM study scenarios{' on ' + dataset if dataset else ''}: the same models, two test sets")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def conclusions(t: pd.DataFrame, majority: float | None = None) -> list[str]:
    """One sentence per scenario that claims no more than its interval shows; a warning first
    when real-only training does not beat always answering the largest class."""
    lines = []
    base = t[t["synthetic per class"] == 0]
    if majority is not None and len(base) and base.iloc[0]["real_lo"] <= majority:
        b = base.iloc[0]
        lines.append(f"Real-only training is at the floor: {b['real test: accuracy']:.3f} [{b['real_lo']:.3f}, "
                     f"{b['real_hi']:.3f}] does not clear {majority:.3f}, the share of the largest class among the "
                     "real test images. The classifier learned little from the real images, so a gain on real test "
                     "images cannot be tested here; the protocol difference still can, since it is measured on the "
                     "same models.")
    for _, r in t[t["synthetic per class"] > 0].iterrows():
        v = verdict(r["diff_lo"], r["diff_hi"])
        num = ci_text(r["difference"], r["diff_lo"], r["diff_hi"], signed=True)
        what = {"inflates": "the study's protocol scored the same models higher; the whole interval lies above 0",
                "deflates": "the study's protocol scored the same models LOWER; the whole interval lies below 0",
                "includes 0": "the interval includes 0: this run cannot tell the protocols apart"}.get(v, v)
        lines.append(f"+{int(r['synthetic per class'])} per class: study protocol - real test = {num}: {what}.")
    if len(base) and len(t) > 1:
        b = base.iloc[0]
        best = t.loc[t["real test: accuracy"].idxmax()]
        lines.append(f"On real test images alone, the scenarios ranged from {t['real test: accuracy'].min():.3f} to "
                     f"{t['real test: accuracy'].max():.3f} (real only {b['real test: accuracy']:.3f} "
                     f"[{b['real_lo']:.3f}, {b['real_hi']:.3f}]; best: +{int(best['synthetic per class'])}); compare the "
                     "intervals before reading a gain into them.")
    return lines

