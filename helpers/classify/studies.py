"""Each published study beside the experiment made with its own generator, and what the
comparison can and cannot show.

The five studies used five different generators. A study's "+ synthetic" column is only
that study's experiment when the synthetic images come from the generator the study used,
balanced the way it balanced (each generator preset's `balance_extra`). This module maps
every study to its generator and data settings (`settings_for`: the grid's settings), puts
the published numbers beside ours (`study_table`), draws every generator on the same footing
(`generators_side_by_side`) and writes the paragraph under the comparison (`paragraph`).

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

import matplotlib.pyplot as plt
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
    `sweep` is false). A generator no study used gets the BUSI study's four columns."""
    names = ["real", "real+trad"]
    for g in generators:
        names.append(f"real+syn:{g}")
        run = STUDY_RUNS.get(GENERATOR_STUDY.get(g, ""))
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
        for model, part in pub.groupby("model", sort=False):
            hit, base = part[part["setting"] == s], part[part["setting"] == "real"]
            label = f"{model}" + (f" ({part['data'].iloc[0]})" if part["data"].nunique() == 1 and study != "BUSI"
                                  and part["data"].iloc[0] != "BUSI" else "")
            row[f"published {label}"] = f"{hit['value'].iloc[0]:.3f}" if len(hit) else ""
            if len(hit) and len(base) and s != "real":
                row[f"published {label}"] += f" ({hit['value'].iloc[0] - base['value'].iloc[0]:+.3f})"
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.loc[:, (out != "").any()] if len(out) else out


def _order(published_settings):
    """Sort key: the study's own settings in its order, then the sweep by size."""
    def key(s):
        n = int(s.split("@")[1]) if "@" in s else 0
        return (0, list(published_settings).index(s), n) if s in published_settings else (1, n, 0)
    return key


def smallest_published_gain(study: str | None = None, metric: str = "accuracy") -> float:
    """The smallest accuracy gain any study (or `study`) reports for adding synthetic images."""
    df = P.published(study, metric)
    gains = []
    for _, part in df.groupby(["study", "data", "model"]):
        base = part[part["setting"] == "real"]["value"]
        syn = part[part["setting"].str.contains("syn")]["value"]
        if len(base) and len(syn):
            gains += list(syn - base.iloc[0])
    gains = [g for g in gains if g > 0]
    return float(min(gains)) if gains else float("nan")


def rows_for_conclusions(generators) -> list[tuple]:
    """(label, our setting, the study's smallest published gain) per generator, for `paragraph`."""
    out = []
    for g in generators:
        study = GENERATOR_STUDY.get(g)
        gain = smallest_published_gain(study) if study else float("nan")
        label = f"{study} study's generator ({g})" if study else g
        out.append((label, f"real+syn:{g}", gain))
        if study in ("BUSI", "cWGAN"):
            out.append((label + " + traditional", f"real+trad+syn:{g}", gain))
        if study == "DDPM":
            out += [(f"{label}, +{n} per class", f"real+syn:{g}@{n}", gain) for n in (50, 125, 250)]
    return out


def generators_side_by_side(paired: pd.DataFrame, generators, title: str = ""):
    """Each generator's change in accuracy and macro F1 against real-only (bars, paired 95%
    CIs; real + traditional first, in grey), with the smallest gain its own study published
    (a grey tick) beside the accuracy."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, metric in zip(axes, ["accuracy", "f1_macro"]):
        d = paired[paired["metric"] == metric].set_index("setting")
        rows = [r for r in ["real+trad"] + [f"real+syn:{g}" for g in generators] if r in d.index]
        v, lo, hi = d.loc[rows, "diff"], d.loc[rows, "lo"], d.loc[rows, "hi"]
        ax.bar(range(len(rows)), v, yerr=[v - lo, hi - v], capsize=4,
               color=["tab:gray"] + list(plt.cm.tab10(np.arange(len(rows) - 1))))
        if metric == "accuracy":
            for i, r in enumerate(rows):
                study = GENERATOR_STUDY.get(r.split(":")[-1]) if ":" in r else None
                if study:
                    ax.scatter(i, smallest_published_gain(study), marker="_", s=500, color="dimgray", zorder=5,
                               label="published gain" if i == 1 else None)
            ax.legend(fontsize=7, loc="lower left")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(rows)), [r.replace("real+syn:", "+ ") for r in rows], rotation=30, ha="right")
        ax.set_title(f"{metric}: change against real-only (paired 95% CI)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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


def paragraph(pooled: pd.DataFrame, paired: pd.DataFrame, rows: list[tuple], majority: float,
              context: str = "", same_predictions: bool = False) -> list[str]:
    """Markdown lines. `rows`: (label, our setting, published gain or nan) in display order,
    e.g. ("WGAN study (wgan)", "real+syn:wgan", 0.013)."""
    base = pooled.set_index("setting").loc["real"]
    acc = paired[paired["metric"] == "accuracy"].set_index("setting")
    gains = [g for _, _, g in rows if g == g and g > 0]
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
    for label, setting, gain in rows:
        if setting not in acc.index:
            continue
        r = acc.loc[setting]
        says = verdict(r.lo, r.hi, VERDICT, no_interval=VERDICT[2])
        text = (f"- **{label}**, `{setting}`: {r['diff']:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}], {says} (the smallest "
                f"change this run detects 4 times in 5: {detectable_change(r.lo, r.hi):.3f})")
        if gain == gain and gain > 0:
            p = detection_probability(gain, r.lo, r.hi, int(r.n_test))
            if state == "ceiling":
                text += f"; the study's gain ({gain:+.3f}) does not fit under the ceiling here"
            elif state == "floor":
                text += f"; at the floor, this run cannot test the study's gain ({gain:+.3f})"
            elif p >= 0.8:
                text += (f"; a true gain as large as the study's ({gain:+.3f}) would have shown with probability "
                         f"about {p:.0%}, so this run speaks against it")
            else:
                text += (f"; a true gain as large as the study's ({gain:+.3f}) would have shown with probability only "
                         f"about {p:.0%}: this run is too small to confirm or rule it out")
        lines.append(text + ".")
    n_sig = int((acc["lo"] > 0).sum())
    lines.append(f"{n_sig} of {len(acc)} settings beat real-only with 95% confidence in this run "
                 "(each interval on its own: with many settings, one may clear 0 by chance).")
    return lines

