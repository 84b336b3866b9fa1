"""Notebook 08's comparison figure of every generator on the same footing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.classify.studies import GENERATOR_STUDY, smallest_published_gain


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
