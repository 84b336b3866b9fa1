"""Each published study beside the experiment made with its own generator, and what the
comparison can and cannot show.

The five studies used five different generators. A study's "+ synthetic" column is only
that study's experiment when the synthetic images come from the generator the study used,
balanced the way it balanced (each generator preset's `balance_extra`). This module maps
every study to its generator and data settings (`settings_for`: the grid's settings), puts
the published numbers beside ours (`study_table`, one column per model and data set, the
columns `smallest_published` names) and writes the paragraph under the comparison
(`paragraph`, one verdict per setting: `judgement`); helpers.classify.figures draws every
generator on the same footing.

A paired interval that contains 0 is not evidence of "no effect": it may simply be too wide
to see an effect of the size the studies report. And a real-only classifier at the ceiling
(or no better than always answering the largest class) leaves no room for any gain to
show. The sentences are computed from the tables, and never claim more than they show:

- `headroom`: is real-only at or near the ceiling, or at the floor?
- `detection_probability`: with a paired interval this wide, how likely would a true gain of
  the published size have given an interval above 0? (normal approximation: the interval's
  half-width is 1.96 standard errors, and a gain g is detected when g - 1.96 se > 0 in the
  draw, i.e. with probability Phi(g / se - 1.96).) The standard error is never taken below
  sqrt(g / n): a true gain g on n test images changes the answer on at least g n of them, and
  a paired difference over d changed images has a standard error of about sqrt(d) / n. So two
  classifiers that happen to agree on every image (an interval of width 0) are not mistaken
  for a precise experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.classify import published as P
from helpers.classify.bootstrap import ci_text, detectable_change, verdict
from helpers.classify.settings import Setting

Z = 1.959964
VERDICT = ("better than real-only", "worse than real-only", "not distinguishable from real-only")


@dataclass(frozen=True)
class StudyRun:
    study: str          # key of helpers.classify.published.STUDIES
    generator: str      # the course generator that stands for the study's
    settings: tuple     # published setting names compared (e.g. "real+syn", "real+syn@50")
    how: str            # what the synthetic images are, in the study's terms


STUDY_RUNS = {
    "WGAN": StudyRun("WGAN", "wgan", ("real", "real+syn"),
                     "per-class WGAN (weight clipping); every class balanced to the largest + 50, as the study did"),
    "DCGAN": StudyRun("DCGAN", "dcgan", ("real", "real+syn"),
                      "DCGAN for the minority classes only, balanced to the largest class (437 on full BUSI)"),
    "BUSI": StudyRun("BUSI", "wgan-gp", ("real", "real+trad", "real+syn", "real+trad+syn"),
                     "per-class WGAN-GP (the course's stand-in for the study's DAGAN), with and without "
                     "traditional augmentation"),
    "DDPM": StudyRun("DDPM", "ddpm", ("real", "real+syn@50", "real+syn@125", "real+syn@250"),
                     "the class-conditional DDPM, 0 / 50 / 125 / 250 images added per class"),
    "cWGAN": StudyRun("cWGAN", "cwgan", ("real", "real+trad", "real+trad+syn"),
                      "the conditional WGAN-GP, one model for all classes"),
}
GENERATOR_STUDY = {r.generator: name for name, r in STUDY_RUNS.items()}
# Generators the course trains that no study used: one setting each (+ its images), compared
# with real-only but with no study's published numbers.
BEYOND_STUDIES = {"flow": "flow matching, beyond the five studies"}


def our_setting(published_setting: str, generator: str) -> str:
    """'real+syn' -> 'real+syn:<generator>', 'real+syn@50' -> 'real+syn:<generator>@50'."""
    if "syn" not in published_setting:
        return published_setting
    base, _, n = published_setting.partition("@")
    return f"{base}:{generator}" + (f"@{n}" if n else "")


def settings_for(generators, augment: str = "busi_study", scenario=(0, 50, 125, 250), sweep: bool = True) -> list:
    """The grid's settings for `generators`: real and real + traditional once, then for every
    generator real + its images (the comparison across generators), plus what its own study
    needs (+ traditional + synthetic for the BUSI and cWGAN studies; the DDPM's sweep unless
    `sweep` is false). A generator no study used gets the BUSI study's four columns; one of
    BEYOND_STUDIES (flow matching) only + its images."""
    names = ["real", "real+trad"]
    for g in generators:
        names.append(f"real+syn:{g}")
        run = STUDY_RUNS.get(GENERATOR_STUDY.get(g, ""))
        if g in BEYOND_STUDIES:
            continue
        if run is None:  # a generator of your own: the BUSI study's four columns
            names.append(f"real+trad+syn:{g}")
            continue
        for s in run.settings:
            if "@" in s:
                names += [f"real+syn:{g}@{n}" for n in scenario if n] if sweep else []
            else:
                names.append(our_setting(s, g))
    return [Setting.parse(n, augment) for n in dict.fromkeys(names)]


def study_table(study: str, pooled: pd.DataFrame, paired: pd.DataFrame, metric: str = "accuracy",
                generator: str | None = None) -> pd.DataFrame:
    """One row per setting of `study`: ours with its 95% CI, ours minus real-only on the same
    test images (paired CI), and each published model's value and change. Settings our grid did
    not run are left out."""
    run = STUDY_RUNS[study]
    gen = generator or run.generator
    pub = P.published(study, metric)
    pool = pooled.set_index("setting") if len(pooled) else pd.DataFrame()
    pair = paired[paired["metric"] == metric].set_index("setting") if len(paired) else pd.DataFrame()
    rows = []
    extra = [s.split(":", 1)[0] + "@" + s.rsplit("@", 1)[1] for s in pool.index
             if s.startswith(f"real+syn:{gen}@") and "@" in "".join(run.settings)]
    for s in sorted(dict.fromkeys([*run.settings, *extra]), key=_order(run.settings)):
        ours = our_setting(s, gen)
        if ours not in pool.index:
            continue
        r = pool.loc[ours]
        row = {"setting": ours, f"ours {metric} [95% CI]": ci_text(r[metric], r[f"{metric}_lo"], r[f"{metric}_hi"])}
        if ours in pair.index:
            d = pair.loc[ours]
            row["ours vs real [paired 95% CI]"] = ci_text(d["diff"], d["lo"], d["hi"], signed=True)
        else:
            row["ours vs real [paired 95% CI]"] = ""
        for (model, data), part in pub.groupby(["model", "data"], sort=False):  # one column per model and data
            hit, base = part[part["setting"] == s], part[part["setting"] == "real"]
            label = published_label(model, data)
            row[label] = f"{hit['value'].iloc[0]:.3f}" if len(hit) else ""
            if len(hit) and len(base) and s != "real":
                row[label] += f" ({hit['value'].iloc[0] - base['value'].iloc[0]:+.3f})"
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.loc[:, (out != "").any()] if len(out) else out


def _order(published_settings):
    """Sort key: the study's own settings in its order, then the sweep by size."""
    def key(s):
        n = int(s.split("@")[1]) if "@" in s else 0
        return (0, list(published_settings).index(s), n) if s in published_settings else (1, n, 0)
    return key


def published_label(model: str, data: str) -> str:
    """A study table's column of published numbers: the model, and the data when not BUSI."""
    return f"published {model}" + (f" on {data}" if data != "BUSI" else "")


def smallest_published(study: str | None = None, metric: str = "accuracy") -> tuple[float, str]:
    """(gain, where): the smallest gain in `metric` any study (or `study`) reports for adding
    synthetic images, and the column of the study table that shows it (nan, "" when none)."""
    df = P.published(study, metric)
    found = []
    for (_, data, model), part in df.groupby(["study", "data", "model"], sort=False):
        base = part[part["setting"] == "real"]["value"]
        syn = part[part["setting"].str.contains("syn")]["value"]
        if len(base):
            found += [(g, published_label(model, data)) for g in syn - base.iloc[0] if g > 0]
    return min(found, key=lambda f: f[0]) if found else (float("nan"), "")


def smallest_published_gain(study: str | None = None, metric: str = "accuracy") -> float:
    """The smallest accuracy gain any study (or `study`) reports for adding synthetic images."""
    return smallest_published(study, metric)[0]


def rows_for_conclusions(generators) -> list[tuple]:
    """(label, our setting, the study's smallest published gain, its table column) per
    generator, for `paragraph`."""
    out = []
    for g in generators:
        study = GENERATOR_STUDY.get(g)
        gain, where = smallest_published(study) if study else (float("nan"), "")
        label = f"{study} study's generator ({g})" if study else BEYOND_STUDIES.get(g, g)
        out.append((label, f"real+syn:{g}", gain, where))
        if study in ("BUSI", "cWGAN"):
            out.append((label + " + traditional", f"real+trad+syn:{g}", gain, where))
        if study == "DDPM":
            out += [(f"{label}, +{n} per class", f"real+syn:{g}@{n}", gain, where) for n in (50, 125, 250)]
    return out


def detection_probability(gain: float, lo: float, hi: float, n: int) -> float:
    """Chance that a true change of `gain` gives a paired 95% interval entirely above 0, for an
    interval as wide as [lo, hi] on `n` paired test predictions (see the module's note)."""
    if gain <= 0 or n <= 0:
        return 0.0
    se = max((hi - lo) / (2 * Z), math.sqrt(gain / n))
    return float(0.5 * (1 + math.erf((gain / se - Z) / math.sqrt(2))))


def headroom(acc: float, acc_lo: float, acc_hi: float, gain: float, majority: float) -> str:
    """'ceiling' when the room above real-only (1 - its upper bound) is smaller than `gain`,
    'floor' when real-only is no better than always answering the largest class (its
    interval reaches down to that share), else 'room'."""
    if 1 - acc_hi < gain or acc_lo >= 0.995:
        return "ceiling"
    if acc_lo <= majority:
        return "floor"
    return "room"


def judgement(state: str, lo: float, hi: float, n: int, gain: float = float("nan"), where: str = "") -> str:
    """One verdict on one setting's paired interval [lo, hi] against real-only, read with
    real-only's `headroom` state and the study's smallest published `gain` (table column `where`)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return VERDICT[2]
    has = gain == gain and gain > 0
    who = where.removeprefix("published ")
    pub = f"the study's smallest gain, {gain:+.3f}" + (f" ({who})" if who else "")
    if state == "floor":  # real-only learned next to nothing: no comparison tests a study's gain
        if lo > 0:
            return ("above real-only, which is at the floor: the synthetic images helped a classifier that had "
                    f"learned next to nothing, which does not test {pub + ',' if has else 'a gain'} on a working one")
        if hi < 0:
            return "below real-only, which is itself at the floor"
        return "not distinguishable from real-only, which is at the floor" + (f": this run cannot test {pub}"
                                                                               if has else "")
    says = verdict(lo, hi, VERDICT, no_interval=VERDICT[2])
    if not has:
        return says
    if state == "ceiling":
        return f"{says}; {pub}, does not fit under the ceiling here"
    if lo > 0:
        return f"{says}; {pub}, lies {'inside' if lo <= gain <= hi else 'below' if gain < lo else 'above'} its interval"
    if hi < 0:
        return f"{says}: this run speaks against {pub}"
    p = detection_probability(gain, lo, hi, n)
    if p >= 0.8:
        return f"{says}; a true gain as large as {pub}, would have shown with probability about {p:.0%}, so this " \
               "run speaks against it"
    return (f"{says}; a true gain as large as {pub}, would have shown with probability only about {p:.0%}: this "
            "run is too small to confirm or rule it out")


def _power_note(lo: float, hi: float) -> str:
    """What the interval's width can detect; an interval of width 0 (both right on exactly the
    same images) detects nothing, however precise it looks."""
    if np.isfinite(lo) and np.isfinite(hi) and hi - lo == 0:
        return "both were right on exactly the same test images, so the interval has no width"
    return f"the smallest change this run detects 4 times in 5: {detectable_change(lo, hi):.3f}"


def paragraph(pooled: pd.DataFrame, paired: pd.DataFrame, rows: list[tuple], majority: float,
              context: str = "", same_predictions: bool = False) -> list[str]:
    """Markdown lines. `rows`: (label, our setting, published gain or nan[, its table column]) in
    display order, e.g. ("WGAN study (wgan)", "real+syn:wgan", 0.013, "published YOLOv8-cls")."""
    base = pooled.set_index("setting").loc["real"]
    acc = paired[paired["metric"] == "accuracy"].set_index("setting")
    gains = [row[2] for row in rows if row[2] == row[2] and row[2] > 0]
    smallest = min(gains) if gains else 0.05
    lines = [f"{context}real-only training reached accuracy {base.accuracy:.3f} "
             f"[{base.accuracy_lo:.3f}, {base.accuracy_hi:.3f}] on {int(base.n_test)} real test predictions."]
    state = headroom(base.accuracy, base.accuracy_lo, base.accuracy_hi, smallest, majority)
    if state == "ceiling":
        lines.append(f"**Real-only is at or near the ceiling**: at most {max(0.0, 1 - base.accuracy_hi):.3f} of "
                     f"accuracy is left above its interval, less than the smallest published gain ({smallest:+.3f}). "
                     "No data setting can show a gain of that size on this data; the differences below cannot "
                     "say whether synthetic images help.")
    elif state == "floor":
        lines.append(f"**Real-only is at the floor**: its interval reaches down to {base.accuracy_lo:.3f}, not above "
                     f"{majority:.3f}, the share of the largest class, which a classifier gets by always answering "
                     "that class. It learned too little for the comparisons below to test the studies' gains "
                     "(train longer, or use more data).")
    if same_predictions:
        lines.append("Every setting predicted exactly the same class for every test image: the classifiers did "
                     "not differ, so this run says nothing about synthetic data.")
        return lines
    for label, setting, gain, *where in rows:
        if setting not in acc.index:
            continue
        r = acc.loc[setting]
        lines.append(f"- **{label}**, `{setting}`: {r['diff']:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}], "
                     f"{judgement(state, r.lo, r.hi, int(r.n_test), gain, where[0] if where else '')} "
                     f"({_power_note(r.lo, r.hi)}).")
    n_sig = int((acc["lo"] > 0).sum())
    lines.append(f"{n_sig} of {len(acc)} settings beat real-only with 95% confidence in this run "
                 "(each interval on its own: with many settings, one may clear 0 by chance).")
    return lines

