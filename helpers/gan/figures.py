"""Figures for the GAN notebooks: per-class loss curves, samples per class, samples across
training (read back from a run's fixed-noise grids) and real beside synthetic."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from helpers.plots import class_grid

LABELS = {"loss_d": "critic / discriminator", "loss_g": "generator", "wasserstein": "Wasserstein estimate",
          "gp": "gradient penalty"}


def _frame(h) -> pd.DataFrame:
    """A History, a history DataFrame, or a run folder -> the history DataFrame."""
    if isinstance(h, pd.DataFrame):
        return h
    if hasattr(h, "frame"):
        return h.frame
    return pd.read_csv(Path(h) / "history.csv")


def loss_curves(histories: dict, columns=("loss_d", "loss_g"), smooth: int = 10, title: str | None = None,
                height: float = 2.6):
    """One panel per class (the WGAN study's Figs 5-7): each column of the history, smoothed
    with a running mean of `smooth` steps (the raw values faint behind)."""
    fig, axes = plt.subplots(1, len(histories), figsize=(3.6 * len(histories), height), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        df = _frame(h)
        for col in columns:
            if col not in df:
                continue
            line, = ax.plot(df["step"], df[col].rolling(smooth, min_periods=1).mean(), label=LABELS.get(col, col))
            ax.plot(df["step"], df[col], color=line.get_color(), alpha=0.2, lw=0.6)
        ax.set_title(name)
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def grid_row(png: str | Path, n: int = 8, pad: int = 2) -> list[np.ndarray]:
    """The first `n` images of a saved sample grid (torchvision layout, `pad` px borders), grey
    (H, W) when the grid's channels are equal (torchvision saves grey grids as RGB), else RGB."""
    a = np.asarray(Image.open(png).convert("RGB"))
    if (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
        a = a[..., 0]
    cols = 8
    s = (a.shape[1] - pad) // cols - pad
    return [a[pad:pad + s, pad + i * (s + pad): pad + i * (s + pad) + s] for i in range(min(n, cols))]


def samples_across_training(run_dir: str | Path, n_rows: int = 5, n: int = 6, title: str | None = None):
    """Fixed-noise samples at a few steps of one run (the DCGAN study's Fig 14): one row per
    step, the same noise in each column, read back from `run_dir/samples/step_*.png`."""
    pngs = sorted(Path(run_dir).glob("samples/step_*.png"))
    if not pngs:
        raise FileNotFoundError(f"No sample grids in {Path(run_dir) / 'samples'}; train the run first.")
    pick = [pngs[int(round(i))] for i in np.linspace(0, len(pngs) - 1, min(n_rows, len(pngs)))]
    rows = {f"step {int(p.stem.split('_')[1])}": grid_row(p, n) for p in dict.fromkeys(pick)}
    return class_grid(rows, n=n, title=title)


def real_vs_synthetic(real: dict, synthetic: dict, n: int = 5, title: str | None = None):
    """For each class two rows, real then synthetic (the DCGAN study's Fig 15)."""
    rows = {}
    for cls in synthetic:
        if cls in real:
            rows[f"{cls}\nreal"] = real[cls][:n]
        rows[f"{cls}\nsynthetic"] = synthetic[cls][:n]
    return class_grid(rows, n=n, title=title)


def critic_weights(runs: dict, bins: int = 80, title: str | None = None):
    """Histogram of each run's critic weights (convolutions and dense layers): clipping piles
    them up at +-c; the gradient penalty leaves them free."""
    import torch

    from helpers.train.checkpoint import load_checkpoint
    from helpers.train.loop import CHECKPOINT

    fig, axes = plt.subplots(1, len(runs), figsize=(3.8 * len(runs), 2.6), squeeze=False)
    for ax, (name, run_dir) in zip(axes[0], runs.items()):
        ck, _ = load_checkpoint(Path(run_dir) / CHECKPOINT)
        w = torch.cat([v.flatten() for k, v in ck["modules"]["critic"].items()
                       if k.endswith("weight") and v.ndim >= 2]).numpy()
        ax.hist(w, bins=bins, color="tab:gray")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("critic weight")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
