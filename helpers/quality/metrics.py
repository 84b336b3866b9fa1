"""Distribution metrics on feature vectors, and the protocol that makes them readable.

- FID (Heusel et al. 2017): fit a Gaussian to each feature set and take the Frechet distance
  ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)). Biased upwards with few images:
  the same two distributions give a larger FID from 100 images than from 10 000.
- KID (Binkowski et al. 2018): squared MMD with the kernel k(a, b) = (a.b / d + 1)^3,
  unbiased, averaged over random subsets. The subset size never exceeds the smaller set
  (BUSI has 133 normal images; the usual 1000 would not fit).
- Precision / recall (Kynkaenniemi et al. 2019): the real manifold is the union of balls
  around each real feature reaching its k-th nearest real neighbour; precision = share of
  synthetic features inside it (realism), recall = share of real features inside the
  synthetic manifold (coverage).

Protocol (`protocol_scores`): the real training images of each class are split into two
random halves A and B. The baseline compares A with B; a generator's set is compared with
the same A, using a random subset of its images as large as B (same class proportions).
The 'all' row pools the classes with the same number of images per class on both sides
(classes a set lacks are left out), so it scores realism, not a different class mix.
Both numbers then share the small-sample bias, so "FID 40 beside a real-vs-real 25" means
something; repeating over several random halvings gives a spread.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors


def _check(x: np.ndarray, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < min_rows:
        raise ValueError(f"{name} must be a 2-d feature matrix with at least {min_rows} rows; got {x.shape}")
    return x


def mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _check(x, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are expected with few images; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            # Fewer images than dimensions: nudge both diagonals, as is customary.
            off = np.eye(len(sigma1)) * eps
            covmean = linalg.sqrtm((sigma1 + off) @ (sigma2 + off))
    covmean = np.real(covmean)  # round-off leaves a tiny imaginary part
    return float(max(0.0, diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)))


def fid(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet Inception Distance between feature matrices x (N, D) and y (M, D)."""
    x, y = _check(x, "x"), _check(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    return frechet_distance(*mean_cov(x), *mean_cov(y))


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 3) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** degree


def kid(x: np.ndarray, y: np.ndarray, subset_size: int = 1000, n_subsets: int = 100, seed: int = 0,
        degree: int = 3) -> tuple[float, float]:
    """Kernel Inception Distance: mean and standard deviation over `n_subsets` random subsets
    of size min(subset_size, len(x), len(y)) of the unbiased squared MMD."""
    x, y = _check(x, "x"), _check(y, "y")
    m = min(int(subset_size), len(x), len(y))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_subsets)
    for s in range(n_subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = polynomial_kernel(a, a, degree), polynomial_kernel(b, b, degree), polynomial_kernel(a, b, degree)
        # Unbiased: leave out the diagonal (an image compared with itself).
        vals[s] = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    return float(vals.mean()), float(vals.std())


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    dist, _ = nn.kneighbors(x)
    return dist[:, k]  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision (fake inside the real manifold) and recall (real inside the fake
    manifold). k is reduced when a set has too few images."""
    real, fake = _check(real, "real"), _check(fake, "fake")
    k = max(1, min(k, len(real) - 1, len(fake) - 1))
    d = pairwise_distances(real, fake)  # (R, F)
    precision = (d <= knn_radii(real, k)[:, None]).any(axis=0).mean()
    recall = (d <= knn_radii(fake, k)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def score_pair(ref: np.ndarray, other: np.ndarray, k: int = 3, kid_subsets: int = 100, seed: int = 0) -> dict:
    """FID, KID, precision and recall of `other` against `ref` (NaN when too few images)."""
    out = dict(fid=np.nan, kid=np.nan, precision=np.nan, recall=np.nan)
    if len(ref) >= 2 and len(other) >= 2:
        out["fid"] = fid(ref, other)
        out["kid"] = kid(ref, other, n_subsets=kid_subsets, seed=seed)[0]
        out["precision"], out["recall"] = precision_recall(ref, other, k)
    return out


def halves(labels: np.ndarray, repeats: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`repeats` random splits of the indices into halves (A, B), each class split evenly."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        a, b = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            a.append(idx[: len(idx) // 2])
            b.append(idx[len(idx) // 2:])
        out.append((np.concatenate(a), np.concatenate(b)))
    return out


def _same_class_mix(parts_a: dict, parts_b: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    """The 'all' comparison with the same number of images per class on both sides.

    A synthetic set often covers only some classes, or in other proportions (a set that
    balances a split has no images of the largest class). Pooling all of half A against it
    would score the difference in class mix, not realism; so each class enters both sides
    with min(n_A, n_B) images, and a class missing from one side is left out of both."""
    ref, other = [], []
    for name in parts_a:
        a, b = parts_a[name], parts_b[name]
        n = min(len(a), len(b))
        if n == 0:
            continue
        ref.append(a if n == len(a) else a[rng.choice(len(a), n, replace=False)])
        other.append(b if n == len(b) else b[rng.choice(len(b), n, replace=False)])
    if not ref:
        return parts_a[next(iter(parts_a))][:0], parts_b[next(iter(parts_b))][:0]
    return np.concatenate(ref), np.concatenate(other)


def protocol_scores(real: np.ndarray, real_labels, splits, classes: dict, other: np.ndarray | None = None,
                    other_labels=None, k: int = 3, kid_subsets: int = 100, seed: int = 0) -> pd.DataFrame:
    """Scores per class and over all classes ('all'), mean and sd over the halvings in `splits`.

    other=None: the real-vs-real baseline (half A vs half B). Otherwise `other` (e.g. a
    synthetic set) vs half A, subsampled per class to the size of half B. `classes` maps
    label -> class name."""
    real_labels = np.asarray(real_labels)
    other_labels = None if other is None else np.asarray(other_labels)
    rng = np.random.default_rng(seed + 1)
    mix_rng = np.random.default_rng(seed + 2)  # its own stream: per-class draws stay as they were
    per = {name: [] for name in [*classes.values(), "all"]}
    sizes = {name: (0, 0) for name in per}
    for r, (a, b) in enumerate(splits):
        parts_a, parts_b = {}, {}
        for lab, name in classes.items():
            ia, ib = a[real_labels[a] == lab], b[real_labels[b] == lab]
            parts_a[name] = real[ia]
            if other is None:
                parts_b[name] = real[ib]
            else:
                pool = np.flatnonzero(other_labels == lab)
                pick = rng.choice(pool, min(len(ib), len(pool)), replace=False)
                parts_b[name] = other[pick]
        parts_a["all"], parts_b["all"] = _same_class_mix(parts_a, parts_b, mix_rng)
        for name in per:
            per[name].append(score_pair(parts_a[name], parts_b[name], k, kid_subsets, seed + r))
            sizes[name] = (len(parts_a[name]), len(parts_b[name]))
    rows = []
    for name, scores in per.items():
        df = pd.DataFrame(scores)
        row = dict(class_name=name, n_ref=sizes[name][0], n_compared=sizes[name][1])
        for m in ["fid", "kid", "precision", "recall"]:
            vals = df[m].dropna()
            row[m] = float(vals.mean()) if len(vals) else np.nan
            row[f"{m}_sd"] = float(vals.std(ddof=0)) if len(vals) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
