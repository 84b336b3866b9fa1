"""Has the generator copied its training images? Nearest real neighbour per synthetic image.

Each image is reduced to a small thumbnail (32 px, bilinear: speckle averages out, anatomy
stays, as in the near-duplicate search of the data stage) and standardised; the similarity
of two images is the Pearson correlation of their thumbnails. A synthetic image's score is
its highest correlation with any training image *or its mirror image* (a flipped copy is
still a copy).

What score is "too close"? That depends on the data, so the threshold is calibrated on
held-out real images (val/test: real, new to the generator, from the same distribution):
the `quantile` (default 0.99) of their own nearest-training-image scores. A generator that
makes images as new as fresh real ones gets about 1 % flagged; one that copies gets many
more. The splits are grouped by near-duplicate group, so no held-out image has a near-twin
in the training set to inflate the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def standardise(thumbs: np.ndarray) -> np.ndarray:
    """(N, h, w) -> (N, h*w) rows with mean 0 and norm 1, so a dot product is a correlation."""
    x = np.asarray(thumbs, dtype=np.float64).reshape(len(thumbs), -1)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def nearest(query: np.ndarray, reference: np.ndarray, flips: bool = True, batch: int = 1024):
    """For each query thumbnail: index of the most correlated reference thumbnail, that
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


def calibrate(heldout: np.ndarray, train: np.ndarray, quantile: float = 0.99) -> tuple[float, np.ndarray]:
    """Threshold = `quantile` of held-out real images' nearest-training-image correlations.
    Returns (threshold, the held-out scores)."""
    if len(heldout) == 0:
        raise ValueError("no held-out real images to calibrate the memorisation threshold on")
    _, scores, _ = nearest(heldout, train)
    return float(np.quantile(scores, quantile)), scores


@dataclass
class Memorisation:
    """Per-image result: `table` has index (into the set), nearest (index into the training
    images), corr, flipped, flagged; `threshold` is the calibrated cut-off."""

    table: pd.DataFrame
    threshold: float

    @property
    def fraction_flagged(self) -> float:
        return float(self.table["flagged"].mean()) if len(self.table) else float("nan")

    def closest(self, n: int = 8) -> pd.DataFrame:
        return self.table.sort_values("corr", ascending=False).head(n)


def check(synthetic: np.ndarray, train: np.ndarray, threshold: float) -> Memorisation:
    """Nearest training image of every synthetic thumbnail; flagged when corr > threshold."""
    idx, corr, flipped = nearest(synthetic, train)
    table = pd.DataFrame(dict(index=np.arange(len(idx)), nearest=idx, corr=corr, flipped=flipped,
                              flagged=corr > threshold))
    return Memorisation(table, float(threshold))


def closest_pairs_figure(synthetic: np.ndarray, train: np.ndarray, mem: Memorisation, n: int = 8,
                         title: str | None = None, labels=None):
    """Top row: the `n` synthetic images closest to a training image; bottom row: that training
    image (mirrored when the match was to its mirror). Titles give the correlation."""
    from helpers.plots import class_grid

    top = mem.closest(n)
    syn = [synthetic[i] for i in top["index"]]
    real = [train[j][:, ::-1] if f else train[j] for j, f in zip(top["nearest"], top["flipped"])]
    mark = ["*" if f else "" for f in top["flagged"]]
    names = [f"{c:.3f}{m}" for c, m in zip(top["corr"], mark)]
    if labels is not None:
        names = [f"{labels[i]} {t}" for i, t in zip(top["index"], names)]
    return class_grid({"synthetic": syn, "nearest real": real}, n=len(syn), title=title,
                      titles=[names, [""] * len(syn)])
