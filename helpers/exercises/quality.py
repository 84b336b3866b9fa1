"""Checks for notebook 07 (synthetic-image quality): a student's FID / KID against helpers'."""

from __future__ import annotations

import numpy as np

from helpers.exercises import report


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
    from helpers.quality.metrics import fid

    for what, x, y in _cases():
        got, want = float(student_fid(x, y)), fid(x, y)
        if not np.isclose(got, want, rtol=1e-5, atol=1e-6):
            return report(False, "FID", f"On '{what}' you get {got:.6g}, helpers get {want:.6g}. Check np.cov "
                                        "(rowvar=False), and take the real part of sqrtm.")
    return report(True, "your FID matches helpers.quality.metrics.fid on all cases")


def check_kid(student_mmd2) -> bool:
    """Compare `student_mmd2(x, y) -> float` (unbiased squared MMD, cubic polynomial kernel,
    all images) with helpers' KID on one subset holding every image."""
    from helpers.quality.metrics import kid

    for what, x, y in list(_cases())[:2]:
        m = min(len(x), len(y))
        x, y = x[:m], y[:m]
        got, want = float(student_mmd2(x, y)), kid(x, y, subset_size=m, n_subsets=1)[0]
        if not np.isclose(got, want, rtol=1e-6, atol=1e-9):
            return report(False, "KID", f"On '{what}' you get {got:.6g}, helpers get {want:.6g}. Leave the "
                                        "diagonal (k(x_i, x_i)) out of the within-set means.")
    return report(True, "your unbiased MMD^2 matches helpers.quality.metrics.kid")
