"""Checks for the exercises of the evaluation notebooks: 07 (synthetic-image quality: a
student's FID / KID against helpers'), 08 (classifier comparison), 09 (protocol pitfalls) and
06b (the accuracy of a mixed test set)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from helpers.classify.metrics import bootstrap, one_vs_rest
from helpers.exercises import report
from helpers.pitfalls.overlays import cam_from
from helpers.pitfalls.tables import paired_inflation
from helpers.quality.metrics import fid, kid

# -- notebook 08 ------------------------------------------------------------------
CLASSES = ["benign", "normal", "malignant"]


def toy_predictions(n=60, seed=0, skill=1.0):
    """(labels, probabilities) of a fake 3-class classifier: softmax of Gaussian logits with
    `skill` added to the true class's logit (0: chance, larger: better)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += skill
    return y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def check_sensitivity_specificity(fn) -> bool:
    """fn(cm) -> (sensitivity, specificity), one value per class, from a confusion matrix
    cm[true, predicted]; compared with helpers.classify.metrics.one_vs_rest."""
    for seed in range(3):
        y, p = toy_predictions(seed=seed)
        pred = p.argmax(1)
        cm = confusion_matrix(y, pred, labels=[0, 1, 2])
        sens, spec = (np.asarray(v, dtype=float) for v in fn(cm))
        ref = one_vs_rest(y, pred, CLASSES)
        if sens.shape != (3,) or spec.shape != (3,):
            return report(False, "one sensitivity and one specificity per class",
                          f"got shapes {sens.shape} and {spec.shape}")
        if not np.allclose(sens, ref["sensitivity"]):
            return report(False, "sensitivity", f"expected {ref['sensitivity'].round(3).tolist()}, got "
                          f"{sens.round(3).tolist()}; sensitivity = TP / (TP + FN), TP on the diagonal, "
                          "FN the rest of that class's ROW")
        if not np.allclose(spec, ref["specificity"]):
            return report(False, "specificity", f"expected {ref['specificity'].round(3).tolist()}, got "
                          f"{spec.round(3).tolist()}; specificity = TN / (TN + FP), FP the rest of the "
                          "class's COLUMN, TN everything outside its row and column")
    return report(True, "one-vs-rest sensitivity and specificity match helpers.classify.metrics.one_vs_rest")


def check_bootstrap_accuracy(fn) -> bool:
    """fn(y_true, y_pred, n_boot, seed) -> (lo, hi): percentile 95% bootstrap interval of the
    accuracy, resampling with np.random.default_rng(seed).integers(0, n, size=(n_boot, n));
    compared with helpers.classify.metrics.bootstrap on the same resamples."""
    y, p = toy_predictions(n=80, seed=5)
    lo, hi = (float(v) for v in fn(y, p.argmax(1), 500, 7))
    ref = bootstrap(y, p, CLASSES, n_boot=500, seed=7).set_index("metric").loc["accuracy"]
    if not (np.isclose(lo, ref["lo"]) and np.isclose(hi, ref["hi"])):
        return report(False, "bootstrap interval", f"expected ({ref['lo']:.4f}, {ref['hi']:.4f}), got "
                      f"({lo:.4f}, {hi:.4f}); draw all resamples at once with the given generator, compute "
                      "the accuracy of each, and take np.percentile(..., [2.5, 97.5])")
    return report(True, f"bootstrap 95% interval ({lo:.3f}, {hi:.3f}) matches helpers.classify.metrics.bootstrap")


# -- notebook 07 ------------------------------------------------------------------
def _cases():
    rng = np.random.default_rng(7)
    mix = rng.normal(size=(6, 6))
    x = rng.normal(size=(120, 6)) @ mix
    yield "two samples of one distribution", x[:60], x[60:]
    yield "shifted and rescaled", x, 1.7 * (rng.normal(size=(80, 6)) @ mix) + 0.5
    yield "one-dimensional, means 0 and 4, variances 2 and 8 (FID = 18)", np.array([[-1.0], [1.0]]), \
        np.array([[2.0], [6.0]])


def check_fid(student_fid) -> bool:
    """Compare `student_fid(x, y) -> float` with helpers.quality.metrics.fid."""
    for what, x, y in _cases():
        got, want = float(student_fid(x, y)), fid(x, y)
        if not np.isclose(got, want, rtol=1e-5, atol=1e-6):
            return report(False, "FID", f"On '{what}' you get {got:.6g}, helpers get {want:.6g}. Check np.cov "
                                        "(rowvar=False), and take the real part of sqrtm.")
    return report(True, "your FID matches helpers.quality.metrics.fid on all cases")


def check_kid(student_mmd2) -> bool:
    """Compare `student_mmd2(x, y) -> float` (unbiased squared MMD, cubic polynomial kernel,
    all images) with helpers' KID on one subset holding every image."""
    for what, x, y in list(_cases())[:2]:
        m = min(len(x), len(y))
        x, y = x[:m], y[:m]
        got, want = float(student_mmd2(x, y)), kid(x, y, subset_size=m, n_subsets=1)[0]
        if not np.isclose(got, want, rtol=1e-6, atol=1e-9):
            return report(False, "KID", f"On '{what}' you get {got:.6g}, helpers get {want:.6g}. Leave the "
                                        "diagonal (k(x_i, x_i)) out of the within-set means.")
    return report(True, "your unbiased MMD^2 matches helpers.quality.metrics.kid")


# -- notebooks 09 and 06b ---------------------------------------------------------
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
    n = len(correct)
    return pd.DataFrame(dict(image=np.arange(n), seed=0, repeat=0, correct=correct, group=[f"{k:06d}" for k in range(n)]))


def check_paired_inflation(fn) -> None:
    """fn(correct_shortcut, correct_honest, n_boot, seed) -> (inflation, lo, hi): mean difference
    of the 0/1 correctness and its percentile 95% interval over the paired resamples
    np.random.default_rng(seed).integers(0, n, size=(n_boot, n)); compared with
    helpers.pitfalls.tables.paired_inflation (which draws whole near-duplicate groups the same way)."""
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
