"""Has the generator copied its training images? Nearest real neighbour per synthetic image.

A copy is the same image, perhaps moved by a few pixels, mirrored, a little brighter or
noisier: not an image that merely shares the anatomy of a class (a layered background, a
dark round mass). So two images are compared the way a copy would match:

1. candidates: the `candidates` training images whose 16 px thumbnails (and their mirror
   images, shifted by a pixel or so) correlate best with the synthetic one;
2. aligned correlation: the Pearson correlation of the two images at working resolution
   (at most 64 px), maximised over shifts of up to `size / 16` pixels each way and over
   mirroring. The speckle and fine structure of a copy line up (correlation near 1); an
   image that only looks alike does not.

The threshold is calibrated on held-out real images (val/test: real, new to the generator):
the `quantile` (default 0.99) of their own aligned scores, kept within [FLOOR, CAP] so that
a shifted, noisy copy (about 0.99) is always above it and a mere look-alike (below 0.9 on
BUSI) never is. `copy_tests` shows the calibration at work on made-up copies and look-alikes.
The splits are grouped by near-duplicate group, so no held-out image has a near-twin in the
training set to inflate the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

FLOOR, CAP = 0.90, 0.98  # the threshold stays between these (see the module's note)
WORK_SIZE = 64           # images larger than this are compared at this size


def standardise(thumbs: np.ndarray) -> np.ndarray:
    """(N, h, w) -> (N, h*w) rows with mean 0 and norm 1, so a dot product is a correlation."""
    x = np.asarray(thumbs, dtype=np.float64).reshape(len(thumbs), -1)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def nearest(query: np.ndarray, reference: np.ndarray, flips: bool = True, batch: int = 1024):
    """For each query image: index of the most correlated reference image (no shifts), that
    correlation, and whether it matched the mirrored reference."""
    q, r = standardise(query), standardise(reference)
    rf = standardise(np.asarray(reference)[:, :, ::-1]) if flips else None
    idx = np.empty(len(q), dtype=np.int64)
    best = np.empty(len(q))
    flipped = np.zeros(len(q), dtype=bool)
    for s in range(0, len(q), batch):
        c = q[s:s + batch] @ r.T
        i = c.argmax(axis=1)
        v = c[np.arange(len(i)), i]
        f = np.zeros(len(i), dtype=bool)
        if flips:
            cf = q[s:s + batch] @ rf.T
            jf = cf.argmax(axis=1)
            vf = cf[np.arange(len(jf)), jf]
            f = vf > v
            i, v = np.where(f, jf, i), np.where(f, vf, v)
        idx[s:s + batch], best[s:s + batch], flipped[s:s + batch] = i, v, f
    return idx, best, flipped


def _grey(images: np.ndarray) -> np.ndarray:
    """RGB (N, H, W, 3) as luminance (N, H, W); grey images as they are."""
    from helpers.data.preprocess import to_grey

    a = np.asarray(images)
    return to_grey(a) if a.ndim == 4 else a


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, H, W) -> (N, size, size), bilinear (averages speckle, keeps structure)."""
    images = np.asarray(images)
    if images.shape[1:] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR))
                     for a in images]) if len(images) else np.zeros((0, size, size), np.uint8)


def _unit(a: np.ndarray, axes) -> np.ndarray:
    a = a - a.mean(axis=axes, keepdims=True)
    return a / (np.sqrt((a * a).sum(axis=axes, keepdims=True)) + 1e-9)


def _thumbnail_scores(q: np.ndarray, r: np.ndarray, shift: int) -> np.ndarray:
    """(Nq, Nr) best correlation of 16 px thumbnails over shifts of up to `shift` px and mirroring:
    a cheap first pass that keeps a moved copy's source among the candidates."""
    n = q.shape[-1] - 2 * shift
    Q = standardise(q[:, shift:shift + n, shift:shift + n])
    best = np.full((len(q), len(r)), -1.0)
    for ref in (r, r[:, :, ::-1]):
        for dy in range(2 * shift + 1):
            for dx in range(2 * shift + 1):
                best = np.maximum(best, Q @ standardise(ref[:, dy:dy + n, dx:dx + n]).T)
    return best


def aligned_nearest(query: np.ndarray, reference: np.ndarray, max_shift: int | None = None,
                    candidates: int = 8):
    """For each query image: (index of the best-matching reference image, the aligned
    correlation, mirrored?, (dy, dx) shift). Images are compared at most at WORK_SIZE px, RGB
    ones by their luminance (a copy keeps its layout in every channel)."""
    query, reference = _grey(query), _grey(reference)
    size = min(WORK_SIZE, np.asarray(query).shape[-1])
    q, ref = resize(query, size).astype(np.float64), resize(reference, size).astype(np.float64)
    s = max(1, size // 16) if max_shift is None else int(max_shift)
    h = size - 2 * s
    scores = _thumbnail_scores(resize(query, 16), resize(reference, 16), shift=max(1, round(s * 16 / size)))
    k = min(candidates, len(ref))
    cands = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    windows = {}

    def win(j, flip):  # every (2s+1)^2 shifted crop of a reference image, standardised
        if (j, flip) not in windows:
            r = ref[j][:, ::-1] if flip else ref[j]
            windows[(j, flip)] = _unit(sliding_window_view(r, (h, h)), (2, 3))
        return windows[(j, flip)]

    idx = np.empty(len(q), np.int64)
    corr = np.full(len(q), -1.0)
    flipped = np.zeros(len(q), bool)
    shift = np.zeros((len(q), 2), np.int64)
    for i in range(len(q)):
        qc = _unit(q[i, s:s + h, s:s + h], (0, 1))
        for j in cands[i]:
            for flip in (False, True):
                c = np.einsum("abhw,hw->ab", win(j, flip), qc)
                a, b = np.unravel_index(c.argmax(), c.shape)
                if c[a, b] > corr[i]:
                    corr[i], idx[i], flipped[i], shift[i] = c[a, b], j, flip, (a - s, b - s)
        if len(windows) > 4096:  # keep memory bounded on large sets
            windows.clear()
    return idx, corr, flipped, shift


def calibrate(heldout: np.ndarray, train: np.ndarray, quantile: float = 0.99) -> tuple[float, np.ndarray]:
    """Threshold = `quantile` of held-out real images' aligned nearest-training correlations,
    kept within [FLOOR, CAP]. Returns (threshold, the held-out scores)."""
    if len(heldout) == 0:
        raise ValueError("no held-out real images to calibrate the memorisation threshold on")
    _, scores, _, _ = aligned_nearest(heldout, train)
    return float(np.clip(np.quantile(scores, quantile), FLOOR, CAP)), scores


@dataclass
class Memorisation:
    """Per-image result: `table` has index (into the set), nearest (index into the training
    images), corr, flipped, dy, dx, flagged; `threshold` is the calibrated cut-off."""

    table: pd.DataFrame
    threshold: float

    @property
    def fraction_flagged(self) -> float:
        return float(self.table["flagged"].mean()) if len(self.table) else float("nan")

    def closest(self, n: int = 8) -> pd.DataFrame:
        return self.table.sort_values("corr", ascending=False).head(n)

    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["flagged"]].sort_values("corr", ascending=False)

    def at(self, threshold: float) -> Memorisation:
        """The same nearest images, flagged at `threshold` (a threshold calibrated meanwhile)."""
        return Memorisation(self.table.assign(flagged=self.table["corr"] > threshold), float(threshold))


def check(synthetic: np.ndarray, train: np.ndarray, threshold: float) -> Memorisation:
    """Nearest training image of every synthetic image; flagged when the aligned correlation
    exceeds `threshold`."""
    idx, corr, flipped, shift = aligned_nearest(synthetic, train)
    table = pd.DataFrame(dict(index=np.arange(len(idx)), nearest=idx, corr=corr, flipped=flipped, dy=shift[:, 0],
                              dx=shift[:, 1], flagged=corr > threshold))
    return Memorisation(table, float(threshold))


def lookalike(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same anatomy with fresh speckle: what a generator makes when it learns a scan's
    layout without copying it (blurred, then multiplied by new Rayleigh-like speckle)."""
    from scipy import ndimage

    base = ndimage.gaussian_filter(image.astype(float), image.shape[0] / 25)
    z = ndimage.gaussian_filter(rng.standard_normal(image.shape), 0.8) + \
        1j * ndimage.gaussian_filter(rng.standard_normal(image.shape), 0.8)
    speckle = np.abs(z) / np.abs(z).mean()
    return np.clip(base * speckle ** 0.7, 0, 255).astype(np.uint8)


def copy_tests(train: np.ndarray, heldout: np.ndarray, threshold: float, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Scores of made-up cases against the training images, one row per image: exact copies,
    shifted copies (a few pixels, gain and noise changed, sometimes mirrored), look-alikes
    (`lookalike`), and held-out real images. A calibrated threshold flags the first two and
    about 1 % of the last two."""
    rng = np.random.default_rng(seed)
    train, heldout = _grey(train), _grey(heldout)
    pick = rng.choice(len(train), min(n, len(train)), replace=False)
    s = max(1, min(WORK_SIZE, train.shape[-1]) // 16)
    cases = {"exact copy": train[pick]}
    moved = []
    for a in train[pick]:
        b = np.roll(a, tuple(rng.integers(-s, s + 1, 2) * a.shape[0] // min(WORK_SIZE, a.shape[0])), (0, 1))
        b = b[:, ::-1] if rng.random() < 0.5 else b
        moved.append(np.clip(b * rng.uniform(0.9, 1.1) + rng.normal(0, 3, b.shape), 0, 255).astype(np.uint8))
    cases["shifted copy"] = np.stack(moved)
    cases["look-alike"] = np.stack([lookalike(a, rng) for a in train[pick]])
    cases["held-out real"] = heldout[rng.choice(len(heldout), min(n, len(heldout)), replace=False)]
    rows = []
    for kind, imgs in cases.items():
        _, corr, _, _ = aligned_nearest(imgs, train)
        rows += [dict(kind=kind, corr=c, flagged=c > threshold) for c in corr]
    return pd.DataFrame(rows)


def closest_pairs_figure(synthetic: np.ndarray, train: np.ndarray, mem: Memorisation, n: int = 8,
                         title: str | None = None, labels=None, only_flagged: bool = False):
    """Top row: the `n` synthetic images closest to a training image (only flagged ones with
    `only_flagged`); bottom row: that training image (mirrored when the match was to its
    mirror). Titles give the aligned correlation, with '*' when flagged."""
    from helpers.plots import class_grid

    top = mem.flagged().head(n) if only_flagged else mem.closest(n)
    syn = [synthetic[i] for i in top["index"]]
    real = [train[j][:, ::-1] if f else train[j] for j, f in zip(top["nearest"], top["flipped"])]
    mark = ["*" if f else "" for f in top["flagged"]]
    names = [f"{c:.3f}{m}" for c, m in zip(top["corr"], mark)]
    if labels is not None:
        names = [f"{labels[i]} {t}" for i, t in zip(top["index"], names)]
    return class_grid({"synthetic": syn, "nearest real": real}, n=max(1, len(syn)), title=title,
                      titles=[names, [""] * len(syn)])
