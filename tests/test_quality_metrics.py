"""FID, KID, precision/recall and the halves protocol, checked against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.quality import metrics as M


def _direct_fid(x, y):
    """FID written out independently: Tr sqrt(S1 S2) = sum sqrt(eig(S1^1/2 S2 S1^1/2))."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


def _features(n, d=8, shift=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)  # correlated features, like a network's
    return rng.normal(size=(n, d)) @ mix * scale + shift


def test_fid_of_a_set_with_itself_is_zero():
    x = _features(200)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_matches_direct_computation_on_fixed_features():
    x, y = _features(300, seed=1), _features(250, shift=0.7, scale=1.5, seed=2)
    assert M.fid(x, y) == pytest.approx(_direct_fid(x, y), rel=1e-6)
    assert M.fid(x, y) > 1.0


def test_fid_known_one_dimensional_case():
    # means 0 and 4, variances 2 and 8: (0-4)^2 + (sqrt2 - sqrt8)^2 = 16 + 2
    assert M.fid(np.array([[-1.0], [1.0]]), np.array([[2.0], [6.0]])) == pytest.approx(18.0)


def test_fid_with_fewer_images_than_dimensions_is_finite():
    x, y = _features(5, d=16, seed=3), _features(6, d=16, seed=4)
    assert np.isfinite(M.fid(x, y))


def test_fid_rejects_bad_input():
    with pytest.raises(ValueError, match="dimensions differ"):
        M.fid(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        M.fid(np.zeros((1, 3)), np.zeros((4, 3)))


def _direct_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * k(x, y).mean())


def test_kid_works_with_fewer_than_1000_images():
    x, y = _features(133, seed=5), _features(40, seed=6)
    same, sd = M.kid(x, y, n_subsets=50)  # subset size falls to 40
    far, _ = M.kid(x, _features(40, shift=2.0, seed=7), n_subsets=50)
    assert np.isfinite(same) and np.isfinite(sd)
    assert abs(same) < 0.1 * far


def test_kid_equals_unbiased_mmd_when_the_subset_is_the_whole_set():
    x, y = _features(30, seed=8), _features(30, shift=0.5, seed=9)
    mean, sd = M.kid(x, y, subset_size=30, n_subsets=1)
    assert mean == pytest.approx(_direct_mmd2(x, y), rel=1e-9)
    assert sd == 0.0


def test_precision_recall_extremes_and_partial_coverage():
    x = _features(100, seed=10)
    assert M.precision_recall(x, x.copy()) == (1.0, 1.0)
    assert M.precision_recall(x, x + 100.0) == (0.0, 0.0)
    # A generator covering only half the real data: realistic (precision high), poor recall.
    x2 = _features(300, d=2, seed=10)
    half = x2[x2[:, 0] > np.median(x2[:, 0])]
    p, r = M.precision_recall(x2, half)
    assert p == 1.0 and r < 0.7


def test_halves_split_every_class_evenly_and_disjointly():
    labels = np.array([0] * 9 + [1] * 4 + [2] * 5)
    for a, b in M.halves(labels, repeats=3, seed=0):
        assert set(a).isdisjoint(b) and set(a) | set(b) == set(range(len(labels)))
        for c, n in [(0, 9), (1, 4), (2, 5)]:
            assert (labels[a] == c).sum() == n // 2


def test_protocol_baseline_far_below_a_bad_set_and_nan_for_tiny_classes():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 60 + [1] * 40 + [2] * 2)
    real = _features(len(labels), seed=11) + labels[:, None]
    splits = M.halves(labels, repeats=2, seed=0)
    classes = {0: "a", 1: "b", 2: "c"}
    base = M.protocol_scores(real, labels, splits, classes, kid_subsets=10).set_index("class_name")
    bad = rng.normal(5.0, 1.0, size=(90, real.shape[1]))
    worse = M.protocol_scores(real, labels, splits, classes, bad, np.repeat([0, 1, 2], 30),
                              kid_subsets=10).set_index("class_name")
    for c in ["a", "b", "all"]:
        assert worse.loc[c, "fid"] > 10 * base.loc[c, "fid"]
        assert worse.loc[c, "precision"] < base.loc[c, "precision"]
    assert np.isnan(base.loc["c", "fid"])  # one image per half: no covariance
    assert worse.loc["a", "n_compared"] == 30  # subsampled to the size of half B


def test_all_row_compares_the_same_class_mix():
    """A set that copies two classes perfectly and lacks the third (as a set that balances a
    split lacks its largest class) must not look worse over 'all' than per class."""
    labels = np.array([0] * 80 + [1] * 40 + [2] * 40)
    real = _features(len(labels), seed=3) + 3 * labels[:, None]
    splits = M.halves(labels, repeats=2, seed=0)
    classes = {0: "a", 1: "b", 2: "c"}
    base = M.protocol_scores(real, labels, splits, classes, kid_subsets=10).set_index("class_name")
    keep = labels > 0
    copy = M.protocol_scores(real, labels, splits, classes, real[keep] + 1e-3, labels[keep],
                             kid_subsets=10).set_index("class_name")
    assert np.isnan(copy.loc["a", "fid"]) and copy.loc["all", "n_compared"] == 40
    a, _ = splits[0]
    pooled = M.fid(real[a], real[keep])  # what pooling every class of half A would score
    assert copy.loc["all", "fid"] < 2 * base.loc["all", "fid"] and pooled > 20 * copy.loc["all", "fid"]
    assert copy.loc["all", "precision"] > 0.9
