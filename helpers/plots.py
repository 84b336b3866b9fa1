"""Figures the notebooks share: image grids with class rows, and saving under the runs folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def _as_uint8(img) -> np.ndarray:
    a = img.detach().float().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    a = np.squeeze(a)
    if a.dtype != np.uint8:  # float images are taken to be in [-1, 1]
        a = np.clip((a + 1) * 127.5, 0, 255).astype(np.uint8)
    return a


def class_grid(rows: dict, n: int | None = None, title: str | None = None, cell: float = 1.4, titles=None):
    """One row per class: `rows = {class_name: images}`, images uint8 (N, H, W) or float in
    [-1, 1]. Returns the matplotlib Figure."""
    n = n or max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(cell * n, cell * len(rows) + (0.4 if title else 0)),
                             squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(imgs):
                ax.imshow(_as_uint8(imgs[c]), cmap="gray", vmin=0, vmax=255)
                if titles is not None:
                    ax.set_title(titles[r][c], fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def savefig(fig, cfg_or_dir, name: str, dpi: int = 110) -> Path:
    """Save a figure as `RUNS/figures/<name>.png` (or into a given folder) and return the path."""
    folder = cfg_or_dir.stage_dir("figures") if hasattr(cfg_or_dir, "stage_dir") else Path(cfg_or_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
