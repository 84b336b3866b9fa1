"""Notebook 09's figures, and `write_figures`: every one of them written to RUNS/figures/ (what
`python -m helpers pitfalls` does after its measurements)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.pitfalls import tables
from helpers.pitfalls.experiments import saliency, twins_in_training
from helpers.plots import savefig


def thresholds(near: pd.DataFrame, twins: pd.DataFrame, n_boot: int = 1000, seed: int = 0):
    """Accuracy per near-duplicate protocol (grouping threshold; a random split at the right)
    with 95% CIs, and how many test images had a near-twin in their training part (one bar per
    correlation level, `experiments.twins_in_training`)."""
    names = sorted([n for n in near["view"].unique() if "@" in n], key=lambda n: float(n.split("@")[1]))
    names += [n for n in near["view"].unique() if "@" not in n]
    acc = [tables.accuracy(near[near["view"] == n], n_boot, seed) for n in names]
    x = np.arange(len(names))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.4))
    v = np.array([a["accuracy"] for a in acc])
    ax.errorbar(x, v, yerr=[v - [a["lo"] for a in acc], [a["hi"] for a in acc] - v], marker="o", capsize=4)
    ax.set_xticks(x, [n.replace("grouped@", "grouped\n@") for n in names], fontsize=8)
    ax.set(ylabel="accuracy (pooled folds)", title="accuracy by protocol, 95% CI")
    width = 0.8 / max(1, len(twins.columns))
    for i, col in enumerate(twins.columns):
        bx.bar(x + (i - (len(twins.columns) - 1) / 2) * width, [twins.loc[n, col] if n in twins.index else 0
                                                                for n in names], width, label=col)
    bx.set_xticks(x, [n.replace("grouped@", "grouped\n@") for n in names], fontsize=8)
    bx.set(ylabel="images", title="test images with a near-twin in their training part")
    bx.legend(fontsize=7, title="twin correlation", title_fontsize=7)
    fig.tight_layout()
    return fig


def inflation(table: pd.DataFrame):
    """Each shortcut's inflation with its interval (a forest plot); grey: not a paired CI."""
    t = table.iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(t) + 1.2))
    for i, r in t.iterrows():
        paired = r["interval"] == "paired 95% CI"
        color = "C3" if paired and r["infl_lo"] > 0 else ("C0" if paired else "0.5")
        ax.errorbar(r["inflation"], i, xerr=[[r["inflation"] - r["infl_lo"]], [r["infl_hi"] - r["inflation"]]],
                    fmt="o", color=color, capsize=4)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(t)), t["shortcut"], fontsize=8)
    ax.set(xlabel="accuracy(shortcut) - accuracy(honest protocol)",
           title="inflation per shortcut (red: interval above 0; grey: range over splits)")
    fig.tight_layout()
    return fig


def single_splits(reps: pd.DataFrame, n_boot: int = 1000, seed: int = 0):
    """The accuracy of every single split, one dot each (a row per repeat of the folds), beside
    the pooled estimate and its 95% CI. A dot plot: with a few splits, a histogram's bins
    would say more about the bins than about the splits."""
    acc = tables.split_accuracies(reps)
    pooled = tables.accuracy(reps, n_boot, seed)
    key = "repeat" if "repeat" in acc else None
    rows = acc[key].to_numpy() if key else np.zeros(len(acc), int)
    fig, ax = plt.subplots(figsize=(6.4, 1.4 + 0.35 * len(np.unique(rows))))
    ax.axvspan(pooled["lo"], pooled["hi"], color="C1", alpha=0.25, label=f"pooled, 95% CI ({pooled['n']} predictions)")
    ax.axvline(pooled["accuracy"], color="C1", label=f"pooled {pooled['accuracy']:.3f}")
    ax.scatter(acc["accuracy"], rows, s=36, color="C0", zorder=3,
               label=f"{len(acc)} single splits: {acc['accuracy'].min():.3f} to {acc['accuracy'].max():.3f}")
    ax.set_yticks(np.unique(rows), [f"repeat {r}" for r in np.unique(rows)] if key else [""])
    ax.set_ylim(rows.max() + 0.8, rows.min() - 0.8)
    ax.set(xlabel="test accuracy", title="one split's accuracy moves by chance")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def gradcam_grid(sal: dict, classes, n: int = 6):
    """Rows: image, Grad-CAM of the model trained as is, the masked image and its model's map;
    the overlay mask outlined in cyan. One image per near-duplicate group."""
    groups = sal.get("groups", np.arange(len(sal["index"])))
    cols = [int(i) for i in pd.Series(groups).drop_duplicates().index[:n]]
    k = len(cols)
    fig, axes = plt.subplots(4, k, figsize=(1.9 * k, 8), squeeze=False)
    for c, j in enumerate(cols):
        for row, (name, what) in enumerate([("as is", "image"), ("as is", "map"), ("masked", "image"),
                                            ("masked", "map")]):
            ax = axes[row, c]
            s = sal[name]
            ax.imshow(s["images"][j], cmap="gray", vmin=0, vmax=255)
            if what == "map":
                ax.imshow(s["maps"][j], cmap="jet", alpha=0.45, vmin=0, vmax=1)
                ax.set_title(f"on overlay {s['on_overlay'][j]:.0%}", fontsize=7)
            if sal["masks"][j].any():
                ax.contour(sal["masks"][j], levels=[0.5], colors="cyan", linewidths=0.6)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{name}\n{'Grad-CAM' if what == 'map' else 'image'}", fontsize=8)
        axes[0, c].set_title(f"{classes[sal['labels'][j]]}", fontsize=8)
    fig.tight_layout()
    return fig


def write_figures(cfg, preset: dict, records, protocols, near, ov, reps, table, thumbs) -> list[str]:
    """Save the figures of the measurements made (09_thresholds, 09_inflation, and
    09_single_splits / 09_gradcam when the repeats / overlays ran); returns the lines to print:
    the Grad-CAM shares and each figure's file."""
    figs = {"09_thresholds": thresholds(near, twins_in_training(protocols, thumbs), preset.n_boot, cfg.seed),
            "09_inflation": inflation(table)}
    lines = []
    if reps is not None:
        figs["09_single_splits"] = single_splits(reps, preset.n_boot, cfg.seed)
    if ov is not None:
        sal = saliency(cfg, preset, records, ov)
        figs["09_gradcam"] = gradcam_grid(sal, cfg.classes, 8)
        for name in ("as is", "masked"):
            s = sal[name]
            lines.append(f"Grad-CAM, model trained on images {name}: {s['on_overlay'].mean():.1%} of the map on overlay "
                         f"pixels, which cover {s['overlay_area'].mean():.1%} of the image ({len(s['maps'])} test images)")
        d = tables.paired_mean_difference(sal["as is"]["on_overlay"], sal["masked"]["on_overlay"], sal["groups"],
                                          preset.n_boot, cfg.seed)
        lines.append(f"Grad-CAM share on overlays, as is - masked: {d['diff']:+.2%} [{d['lo']:+.2%}, {d['hi']:+.2%}]")
    for name, fig in figs.items():
        lines.append(f"figure: {savefig(fig, cfg, name)}")
        plt.close(fig)
    return lines
