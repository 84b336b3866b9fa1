"""Figures the notebooks share: image grids with class rows, one colour per generator, and
saving under the runs folder."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# One colour per generator in every figure that compares generators: a reader
# who learned that the DDPM is purple finds it purple everywhere. Real-only and traditional
# augmentation are the neutral references.
GENERATOR_COLORS = {"wgan": "tab:blue", "wgan-gp": "tab:orange", "dcgan": "tab:green", "cwgan": "tab:red",
                    "ddpm": "tab:purple", "flow": "tab:cyan"}
REFERENCE_COLORS = {"real": "black", "real+trad": "tab:gray"}
_SPARE = ["tab:brown", "tab:pink", "tab:olive"]  # for a generator of the reader's own


def generator_color(name: str) -> str:
    """The colour of generator `name` (a generator the course does not know gets a spare colour,
    the same one in every figure)."""
    return GENERATOR_COLORS.get(name) or _SPARE[zlib.crc32(name.encode()) % len(_SPARE)]


def setting_color(setting: str) -> str:
    """The colour of a data setting: its generator's ('real+trad+syn:cwgan' and
    'real+syn:ddpm@50' are the cWGAN's and the DDPM's colour), or a reference colour."""
    if ":" not in setting:
        return REFERENCE_COLORS.get(setting, "tab:gray")
    return generator_color(setting.split(":", 1)[1].split("@")[0])


def _as_uint8(img) -> np.ndarray:
    """One image as uint8 (H, W) grey or (H, W, 3) RGB; a network's (C, H, W) is turned
    channels-last, as matplotlib wants it."""
    a = img.detach().float().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    a = np.squeeze(a)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = a.transpose(1, 2, 0)
    if a.dtype != np.uint8:  # float images are taken to be in [-1, 1]
        a = np.clip((a + 1) * 127.5, 0, 255).astype(np.uint8)
    return a


def show_image(ax, img) -> None:
    """Draw one image: grey with a fixed 0-255 gray scale, RGB as it is."""
    a = _as_uint8(img)
    if a.ndim == 3:
        ax.imshow(a)
    else:
        ax.imshow(a, cmap="gray", vmin=0, vmax=255)


def class_grid(rows: dict, n: int | None = None, title: str | None = None, cell: float = 1.4, titles=None):
    """One row per class: `rows = {class_name: images}`, images uint8 (N, H, W) / (N, H, W, 3)
    or float in [-1, 1] (N, C, H, W). Returns the matplotlib Figure."""
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
                show_image(ax, imgs[c])
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


def real_vs_synthetic_set(manifest, train_records, size: int, n: int = 8, seed: int = 0,
                          title: str | None = None):
    """Per class, a row of real training images then a row of images from a synthetic set
    (any generator: read back from its manifest), drawn at random but fixed by `seed`."""
    from PIL import Image

    from helpers.data.preprocess import load_images
    from helpers.synth import read_manifest

    synth = read_manifest(manifest)
    # two streams, so the real rows are the same images whichever generator is shown
    rng_real, rng_synth = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    rows = {}
    for cls in dict.fromkeys(train_records["class_name"]):
        real = train_records[train_records["class_name"] == cls]
        fake = synth[synth["class_name"] == cls]
        pick = rng_real.choice(len(real), min(n, len(real)), replace=False)
        rows[f"{cls}\nreal"] = load_images(real.iloc[pick], size, progress=False)  # a few: no cache
        mode = "RGB" if rows[f"{cls}\nreal"].ndim == 4 else "L"  # synthetic shown as the real ones are
        if len(fake):
            pick = rng_synth.choice(len(fake), min(n, len(fake)), replace=False)
            rows[f"{cls}\nsynthetic"] = [np.asarray(Image.open(p).convert(mode)) for p in fake["path"].iloc[pick]]
    return class_grid(rows, n=n, title=title)
