"""Checks for notebook 08's exercises (classifier comparison)."""

from __future__ import annotations

import numpy as np

from helpers.exercises import report

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
    from sklearn.metrics import confusion_matrix

    from helpers.classify.metrics import one_vs_rest

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
    from helpers.classify.metrics import bootstrap

    y, p = toy_predictions(n=80, seed=5)
    lo, hi = (float(v) for v in fn(y, p.argmax(1), 500, 7))
    ref = bootstrap(y, p, CLASSES, n_boot=500, seed=7).set_index("metric").loc["accuracy"]
    if not (np.isclose(lo, ref["lo"]) and np.isclose(hi, ref["hi"])):
        return report(False, "bootstrap interval", f"expected ({ref['lo']:.4f}, {ref['hi']:.4f}), got "
                      f"({lo:.4f}, {hi:.4f}); draw all resamples at once with the given generator, compute "
                      "the accuracy of each, and take np.percentile(..., [2.5, 97.5])")
    return report(True, f"bootstrap 95% interval ({lo:.3f}, {hi:.3f}) matches helpers.classify.metrics.bootstrap")
