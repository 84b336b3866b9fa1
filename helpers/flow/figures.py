"""Notebook 06c's figures: the straight path, the training loss, samples per class at each NFE."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from helpers.flow.compare import NAMES
from helpers.flow.objective import interpolate
from helpers.plots import class_grid


def path_figure(images: torch.Tensor, class_names: list[str], ts=(0.0, 0.25, 0.5, 0.75, 1.0), seed: int = 0):
    """One row per image (one per class): x_t on the straight path from one noise draw (t = 0) to
    the image (t = 1)."""
    x0 = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    rows = {name: torch.stack([interpolate(x0[i:i + 1], images[i:i + 1], torch.tensor([t]))[0] for t in ts])
            for i, name in enumerate(class_names)}
    titles = [[f"t = {t:g}" for t in ts]] * len(rows)
    return class_grid(rows, title="x_t = (1 - t) x_0 + t x_1: noise at t = 0, the image at t = 1", cell=1.3,
                      titles=titles)


def loss_curve(history_frame: pd.DataFrame, window: int = 25):
    """The training loss per step and its running mean."""
    fig, ax = plt.subplots(figsize=(6, 3))
    f = history_frame
    ax.plot(f["step"], f["loss"], alpha=0.3, lw=0.8, label="loss per step")
    ax.plot(f["step"], f["loss"].rolling(window, min_periods=1).mean(), lw=1.8, label=f"mean of {window}")
    ax.set_xlabel("optimizer step"), ax.set_ylabel("loss"), ax.legend()
    ax.set_title("flow matching: velocity MSE", fontsize=10)
    fig.tight_layout()
    return fig


def nfe_grid(drawn: dict, class_names: list[str], nfes, per_class: int = 1):
    """Rows: each sampler x class (its first `per_class` images); columns: the NFE. An empty cell:
    a sampler that cannot run at that NFE (Heun needs an even number)."""
    rows, titles = {}, []
    methods = list(dict.fromkeys(m for m, _ in drawn))
    for method in methods:
        for c, name in enumerate(class_names):
            for j in range(per_class):
                cells, heads = [], []
                for nfe in nfes:
                    x, y, _ = drawn.get((method, nfe), (None, None, None))
                    if x is None:
                        cells.append(torch.full_like(next(iter(drawn.values()))[0][0], 1.0))  # a white cell
                        heads.append(f"NFE {nfe}: —")
                        continue
                    cells.append(x[int(np.flatnonzero(y == c)[0]) + j])
                    heads.append(f"NFE {nfe}")
                rows[f"{NAMES[method]}\n{name}" + (f" {j + 1}" if per_class > 1 else "")] = torch.stack(cells)
                titles.append(heads)
    return class_grid(rows, title="the same noise per row, more network evaluations to the right", cell=1.15,
                      titles=titles)
