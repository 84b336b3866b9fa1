"""Checks for notebook 09's exercises (protocol pitfalls)."""

from __future__ import annotations

import numpy as np

from helpers.exercises import report


def _toy(seed=0, n=90):
    """Correct (1) / wrong (0) flags of an honest and a leaky protocol on the same images (the
    leaky one gets some of the honest one's mistakes right)."""
    rng = np.random.default_rng(seed)
    honest = (rng.random(n) < 0.7).astype(int)
    leaky = np.where(rng.random(n) < 0.3, 1, honest)
    return leaky, honest


def _frame(correct):
    """Predictions with one image per group, the groups sorting in image order: the course's
    group bootstrap then draws exactly rng.integers(0, n, size=(n_boot, n))."""
    import pandas as pd

    n = len(correct)
    return pd.DataFrame(dict(image=np.arange(n), seed=0, repeat=0, correct=correct, group=[f"{k:06d}" for k in range(n)]))


def check_paired_inflation(fn) -> None:
    """fn(correct_shortcut, correct_honest, n_boot, seed) -> (inflation, lo, hi): mean difference
    of the 0/1 correctness and its percentile 95% interval over the paired resamples
    np.random.default_rng(seed).integers(0, n, size=(n_boot, n)); compared with
    helpers.pitfalls.tables.paired_inflation (which draws whole near-duplicate groups the same way)."""
    from helpers.pitfalls.tables import paired_inflation

    for seed in range(3):
        s, h = _toy(seed)
        got = [float(v) for v in fn(s, h, 400, seed)]
        ref = paired_inflation(_frame(s), _frame(h), n_boot=400, seed=seed)
        want = [ref["inflation"], ref["lo"], ref["hi"]]
        if not np.isclose(got[0], want[0]):
            return report(False, "paired inflation", f"the difference should be {want[0]:.4f}, got {got[0]:.4f}: "
                          "mean of (shortcut correct - honest correct) over the same images")
        if not np.allclose(got[1:], want[1:]):
            return report(False, "paired interval", f"expected [{want[1]:.4f}, {want[2]:.4f}], got [{got[1]:.4f}, "
                          f"{got[2]:.4f}]: resample the DIFFERENCES with the given indices (one resample for "
                          "both protocols), then take np.percentile(..., [2.5, 97.5])")
    return report(True, "paired inflation and its group-bootstrap interval match helpers.pitfalls.tables")


def check_gradcam(fn) -> None:
    """fn(activations, gradients) -> Grad-CAM maps (N, h, w) in [0, 1]; compared with
    helpers.pitfalls.overlays.cam_from."""
    from helpers.pitfalls.overlays import cam_from

    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(size=(4, 6, 5, 5)))
    g = rng.normal(size=(4, 6, 5, 5))
    g[3] = -np.abs(g[3])  # every weight negative: the map is all zero after the ReLU
    got, want = np.asarray(fn(a, g), dtype=float), cam_from(a, g)
    if got.shape != want.shape:
        return report(False, "Grad-CAM maps", f"shape should be {want.shape} (one h x w map per image), got {got.shape}")
    if not np.allclose(got, want, atol=1e-6):
        return report(False, "Grad-CAM maps", f"max difference {np.abs(got - want).max():.3g}; weights = gradients "
                      "averaged over (h, w); map = ReLU of the weighted sum of the feature maps, divided by its "
                      "maximum (an all-zero map stays zero)")
    return report(True, "Grad-CAM: channel weights from mean gradients, ReLU of the weighted sum, scaled to [0, 1]")


def check_mixed_accuracy(fn) -> None:
    """fn(acc_real, acc_synthetic, n_real, n_synthetic) -> the accuracy on a test set holding
    both: the weighted mean (n_real acc_real + n_synthetic acc_synthetic) / (n_real + n_synthetic)."""
    cases = [(0.6, 1.0, 82, 100), (0.84, 0.84, 82, 20), (0.5, 0.9, 46, 0), (0.7, 0.95, 46, 100)]
    for a_r, a_s, n_r, n_s in cases:
        want = (n_r * a_r + n_s * a_s) / (n_r + n_s)
        got = float(fn(a_r, a_s, n_r, n_s))
        if not np.isclose(got, want):
            return report(False, "mixed accuracy", f"for acc_real={a_r}, acc_synthetic={a_s}, n_real={n_r}, "
                          f"n_synthetic={n_s} expected {want:.4f}, got {got:.4f}: weigh each part by its images")
    return report(True, "the accuracy of a mixed test set is the image-weighted mean of its parts")
