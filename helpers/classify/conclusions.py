"""The computed paragraph under the comparison: what this run can and cannot show.

A paired interval that contains 0 is not evidence of "no effect": it may simply be too wide
to see an effect of the size the studies report. And a real-only classifier at the ceiling
(or no better than always answering the largest class) leaves no room for any gain to
show. The sentences here are computed from the tables, and never claim more than they show:

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

import pandas as pd

from helpers.classify.bootstrap import verdict

Z = 1.959964


VERDICT = ("better than real-only", "worse than real-only", "not distinguishable from real-only")


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
        text = f"- **{label}**, `{setting}`: {r['diff']:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}], {says}"
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

