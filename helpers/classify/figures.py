"""Notebook 08's comparison figures. Every one colours a setting by its generator
(helpers.plots.setting_color), so each generator has one colour in all of them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from helpers.classify.studies import GENERATOR_STUDY, smallest_published_gain
from helpers.plots import setting_color


def variant_hatch(setting: str) -> str:
    """A generator's variants share its colour and differ by hatching: + traditional '//',
    a sweep size '..'."""
    return "//" if "trad+syn" in setting else ".." if "@" in setting else ""


def generators_side_by_side(paired: pd.DataFrame, generators, title: str = ""):
    """Each generator's change in accuracy and macro F1 against real-only (bars, paired 95%
    CIs; real + traditional first, in grey), with the smallest gain its own study published
    (a grey tick) beside the accuracy."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, metric in zip(axes, ["accuracy", "f1_macro"]):
        d = paired[paired["metric"] == metric].set_index("setting")
        rows = [r for r in ["real+trad"] + [f"real+syn:{g}" for g in generators] if r in d.index]
        v, lo, hi = d.loc[rows, "diff"], d.loc[rows, "lo"], d.loc[rows, "hi"]
        ax.bar(range(len(rows)), v, yerr=[v - lo, hi - v], capsize=4, color=[setting_color(r) for r in rows])
        if metric == "accuracy":
            labelled = False
            for i, r in enumerate(rows):
                study = GENERATOR_STUDY.get(r.split(":")[-1]) if ":" in r else None
                if study:
                    ax.scatter(i, smallest_published_gain(study), marker="_", s=500, color="dimgray", zorder=5,
                               label=None if labelled else "published gain")
                    labelled = True
            ax.legend(fontsize=7, loc="lower left")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(rows)), [r.replace("real+syn:", "+ ") for r in rows], rotation=30, ha="right")
        ax.set_title(f"{metric}: change against real-only (paired 95% CI)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def metrics_with_ci(pooled: pd.DataFrame, metrics, title: str = ""):
    """One panel per metric: every setting's pooled value with its bootstrap 95% CI, in its
    generator's colour (variants hatched)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), squeeze=False)
    settings = list(pooled["setting"])
    for ax, m in zip(axes[0], metrics):
        v, lo, hi = pooled[m], pooled[f"{m}_lo"], pooled[f"{m}_hi"]
        bars = ax.bar(range(len(settings)), v, yerr=[v - lo, hi - v], capsize=4,
                      color=[setting_color(s) for s in settings], edgecolor="white")
        for bar, s in zip(bars, settings):
            bar.set_hatch(variant_hatch(s))
        ax.set_xticks(range(len(settings)), settings, rotation=40, ha="right", fontsize=8)
        ax.set_title(m)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
