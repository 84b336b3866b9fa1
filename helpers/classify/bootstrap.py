"""The group (cluster) bootstrap behind every interval of the course, and what an interval says.

Near-duplicate images (two frames of one scan, a patient's left and right breast) are not
independent, so a resample draws whole groups, as many as there are, with replacement; each
image counts as often as its group was drawn. `n_boot` resamples are a (n_boot, n_images)
weight matrix (`weights`): a sum over every resample is one matrix product (`resampled_sums`,
notebook 09), confusion matrices and AUCs are computed with the weights (`metrics`, notebook
08), and two classifiers scored on the same images share one draw (a paired interval).
Without groups the draws are exactly `np.random.default_rng(seed).integers(0, n, size=(n_boot,
n))`, as the exercises draw them by hand. The interval is the 2.5 and 97.5 percentiles.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def group_counts(groups, n_boot: int, seed: int = 0, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts, inv): counts (n_boot, g) says how often each of the g groups is drawn in each
    resample (g draws with replacement), inv (n,) each image's group. groups=None: every one of
    the `n` images is its own group, in image order."""
    if groups is None:
        inv = np.arange(int(n))
    else:
        _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        inv = inv.reshape(-1)
    g = int(inv.max()) + 1 if len(inv) else 0
    draws = np.random.default_rng(seed).integers(0, g, size=(n_boot, g))
    counts = np.bincount((np.arange(n_boot)[:, None] * g + draws).ravel(), minlength=n_boot * g)
    return counts.reshape(n_boot, g), inv


def weights(groups, n_boot: int, seed: int = 0, n: int | None = None) -> np.ndarray:
    """(n_boot, n_images) weights: how often each image is drawn in each resample."""
    counts, inv = group_counts(groups, n_boot, seed, n)
    return counts[:, inv]


def resampled_sums(groups, n_boot: int, seed: int, *values) -> list[np.ndarray]:
    """For each per-image array in `values`, its sum over the images of every resample
    (n_boot,). Summed per group first, so thousands of resamples stay one small product."""
    counts, inv = group_counts(groups, n_boot, seed)
    g = counts.shape[1]
    return [counts @ np.bincount(inv, weights=np.asarray(v, dtype=float), minlength=g) for v in values]


def percentile_ci(values, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite resampled values ((nan, nan) if there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    a = (1 - level) / 2 * 100
    return tuple(float(x) for x in np.percentile(v, [a, 100 - a])) if len(v) else (np.nan, np.nan)


def p_two(reps) -> float:
    """Two-sided bootstrap p-value of a difference: twice the share of resamples on the
    smaller side of 0 (at most 1)."""
    reps = np.asarray(reps)
    return float(min(1.0, 2 * min((reps <= 0).mean(), (reps >= 0).mean())))


def verdict(lo: float, hi: float, words=("inflates", "deflates", "includes 0"), no_interval: str = "no interval") -> str:
    """What the interval [lo, hi] of a difference says, in the caller's words: (whole interval
    above 0, whole interval below 0, 0 inside); `no_interval` when an end is not a number."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return no_interval
    above, below, between = words
    return above if lo > 0 else below if hi < 0 else between


def detectable_change(lo: float, hi: float, power: float = 0.8) -> float:
    """The smallest true difference a paired 95% interval as wide as [lo, hi] would show (its
    whole interval on one side of 0) with probability `power`: (z_0.975 + z_power) standard
    errors, the standard error read from the interval's width. nan without an interval."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return float("nan")
    z = 1.959964
    return float((z + NormalDist().inv_cdf(power)) * (hi - lo) / (2 * z))


def few_groups(n_groups: int, n_images: int, enough: int = 20) -> str | None:
    """A warning when a test set has fewer than `enough` independent groups (patients): a
    bootstrap over so few draws understates the uncertainty, and even every group right is
    consistent with a true accuracy of 1 - 3/n (the rule of three, one-sided 95%)."""
    if n_groups >= enough:
        return None
    return (f"The test set holds only {n_groups} independent groups ({n_images} images), so every interval here "
            f"rests on {n_groups} draws and understates the uncertainty: even all {n_groups} right is consistent "
            f"with a true accuracy as low as {max(0.0, 1 - 3 / max(n_groups, 1)):.2f} (the rule of three). A "
            "1.000 [1.000, 1.000] means every test image was right, not that the classifier is perfect; "
            "repeat over grouped folds (the paper profile) before reading a difference.")


def ci_text(v: float, lo: float, hi: float, signed: bool = False) -> str:
    """'v [lo, hi]' to 3 decimals ('n/a' without a value, the value alone without an interval)."""
    f = "{:+.3f}" if signed else "{:.3f}"
    if not np.isfinite(v):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f.format(v)
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"
