"""Classification metrics with bootstrap 95% confidence intervals.

Point estimates come straight from scikit-learn (`score`). The bootstrap needs the same
numbers for 1000+ resamples, and calling scikit-learn that often takes minutes, so the
resamples use vectorised NumPy versions computed from weighted confusion matrices and ranks
(`batch_metrics`, `_weighted_auc`; the tests check they equal scikit-learn on fixed inputs),
one row of image weights per resample of the group bootstrap (`helpers.classify.bootstrap`).

Per class c, "one-vs-rest": sensitivity = TP / (TP + FN) (= recall), specificity =
TN / (TN + FP), where the negatives are every image not of class c (the DCGAN study's
Table 1). AUC is one-vs-rest on the predicted probability of c; the macro AUC is their mean.
`paired_difference` draws the SAME resample for two classifiers evaluated on the same images,
which makes "synthetic minus real-only" much tighter than the two intervals side by side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    matthews_corrcoef,
    precision_recall_fscore_support,
    roc_auc_score,
)

from helpers.classify.bootstrap import p_two, percentile_ci, weights

HEADLINE = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "auc_macro", "mcc", "kappa"]


def metric_names(class_names: list[str]) -> list[str]:
    per = [f"{m}_{c}" for c in class_names for m in ("precision", "recall", "f1", "sensitivity",
                                                     "specificity", "auc")]
    return HEADLINE + per


def _check(y_true, proba, n_classes=None):
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"proba must be (n_images, n_classes) with one row per label; got {p.shape} for {len(y)} labels")
    k = n_classes or p.shape[1]
    if y.min(initial=0) < 0 or y.max(initial=0) >= k:
        raise ValueError(f"labels must lie in 0..{k - 1}")
    return y, p, k


def score(y_true, proba, class_names: list[str]) -> dict:
    """Every metric at once, computed with scikit-learn. proba: (n, k) class probabilities."""
    y, p, k = _check(y_true, proba, len(class_names))
    pred = p.argmax(1)
    labels = list(range(k))
    prec, rec, f1, _ = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out = dict(accuracy=accuracy_score(y, pred), precision_macro=prec.mean(), recall_macro=rec.mean(),
               f1_macro=f1.mean(), mcc=matthews_corrcoef(y, pred), kappa=cohen_kappa_score(y, pred, labels=labels))
    spec = one_vs_rest(y, pred, class_names)["specificity"].to_numpy()
    aucs = []
    for c, name in enumerate(class_names):
        pos = y == c
        auc = roc_auc_score(pos, p[:, c]) if 0 < pos.sum() < len(y) else np.nan
        aucs.append(auc)
        out.update({f"precision_{name}": prec[c], f"recall_{name}": rec[c], f"f1_{name}": f1[c],
                    f"sensitivity_{name}": rec[c], f"specificity_{name}": spec[c], f"auc_{name}": auc})
    out["auc_macro"] = float(np.mean(aucs)) if not np.isnan(aucs).any() else np.nan
    return {m: float(out[m]) for m in metric_names(class_names)}


# -- vectorised versions for the bootstrap -----------------------------------------------------
def _weighted_confusion(y: np.ndarray, pred: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """(B, k, k) confusion matrices (rows: true) of the images counted with weights w (B, n)."""
    onehot = np.zeros((len(y), k * k))
    onehot[np.arange(len(y)), y * k + pred] = 1.0
    return (w @ onehot).reshape(len(w), k, k)


def _safe_div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def batch_metrics(cm: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """Every confusion-matrix metric for a batch (B, k, k); matches scikit-learn's
    zero_division=0 convention (an undefined ratio counts as 0)."""
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    t, p = cm.sum(2), cm.sum(1)  # true counts per class, predicted counts per class
    s = cm.sum((1, 2))
    prec, rec = _safe_div(tp, p), _safe_div(tp, t)
    f1 = _safe_div(2 * prec * rec, prec + rec)
    tn = s[:, None] - t - p + tp
    spec = _safe_div(tn, tn + (p - tp))
    c = tp.sum(1)
    cov_ytyp, cov_pp, cov_tt = c * s - (t * p).sum(1), s ** 2 - (p * p).sum(1), s ** 2 - (t * t).sum(1)
    mcc = _safe_div(cov_ytyp, np.sqrt(cov_pp * cov_tt))
    po, pe = c / s, (t * p).sum(1) / s ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (po - pe) / (1 - pe)
    out = dict(accuracy=c / s, precision_macro=prec.mean(1), recall_macro=rec.mean(1), f1_macro=f1.mean(1),
               mcc=mcc, kappa=kappa)
    for i, name in enumerate(class_names):
        out.update({f"precision_{name}": prec[:, i], f"recall_{name}": rec[:, i], f"f1_{name}": f1[:, i],
                    f"sensitivity_{name}": rec[:, i], f"specificity_{name}": spec[:, i]})
    return out


def _weighted_auc(pos: np.ndarray, score_: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of the positives `pos` (n,) by `score_` (n,) for each row of weights
    w (B, n): the weighted share of (positive, negative) pairs ordered right, ties counting 1/2
    (as scikit-learn's trapezoid ROC); NaN where a row weighs no positive or no negative."""
    order = np.argsort(score_, kind="stable")
    s, pos, w = score_[order], pos[order], w[:, order]
    neg_w = w * ~pos
    cum = np.cumsum(neg_w, axis=1)
    start, end = np.searchsorted(s, s, side="left"), np.searchsorted(s, s, side="right") - 1
    below = np.where(start > 0, cum[:, start - 1], 0.0)  # negatives scored lower
    tied = cum[:, end] - below  # negatives scored the same
    n_pos, n_neg = (w * pos).sum(1), neg_w.sum(1)
    u = (w * pos * (below + 0.5 * tied)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def batch_scores(y: np.ndarray, p: np.ndarray, w: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """All metrics of the images (y (n,), p (n, k)) counted with each row of weights w (B, n)
    (a bootstrap resample: `helpers.classify.bootstrap.weights`)."""
    k = len(class_names)
    y, w = np.asarray(y, dtype=int), np.asarray(w, dtype=np.float64)
    out = batch_metrics(_weighted_confusion(y, p.argmax(1), w, k), class_names)
    aucs = [_weighted_auc(y == c, p[:, c], w) for c in range(k)]
    for c, name in enumerate(class_names):
        out[f"auc_{name}"] = aucs[c]
    out["auc_macro"] = np.mean(aucs, axis=0)
    return out


def bootstrap(y_true, proba, class_names: list[str], n_boot: int = 1000, seed: int = 0, groups=None,
              level: float = 0.95) -> pd.DataFrame:
    """Table metric | value | lo | hi: scikit-learn point estimate and percentile bootstrap CI."""
    y, p, _ = _check(y_true, proba, len(class_names))
    point = score(y, p, class_names)
    reps = batch_scores(y, p, weights(groups, n_boot, seed, len(y)), class_names)
    rows = []
    for m in metric_names(class_names):
        lo, hi = percentile_ci(reps[m], level)
        rows.append(dict(metric=m, value=point[m], lo=lo, hi=hi))
    return pd.DataFrame(rows)


def ci_columns(ci: pd.DataFrame, metrics=None) -> dict:
    """A `bootstrap` table as {m: value, m_lo: lo, m_hi: hi} for `metrics` (default: all)."""
    ci = ci.set_index("metric")
    out = {}
    for m in metrics or ci.index:
        out[m], out[f"{m}_lo"], out[f"{m}_hi"] = ci.loc[m, "value"], ci.loc[m, "lo"], ci.loc[m, "hi"]
    return out


def paired_difference(y_true, proba_a, proba_b, class_names: list[str], n_boot: int = 1000, seed: int = 0,
                      groups=None, metrics: list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """metric(b) - metric(a) on the same test images, with a paired bootstrap CI and the
    share of resamples on the other side of zero (a two-sided bootstrap p-value)."""
    y, pa, _ = _check(y_true, proba_a, len(class_names))
    _, pb, _ = _check(y_true, proba_b, len(class_names))
    w = weights(groups, n_boot, seed, len(y))
    ra, rb = batch_scores(y, pa, w, class_names), batch_scores(y, pb, w, class_names)
    sa, sb = score(y, pa, class_names), score(y, pb, class_names)
    rows = []
    for m in metrics or HEADLINE:
        d = rb[m] - ra[m]
        d = d[np.isfinite(d)]
        lo, hi = percentile_ci(d, level)  # (nan, nan) when no resample has the metric
        rows.append(dict(metric=m, diff=sb[m] - sa[m], lo=lo, hi=hi, p=p_two(d) if len(d) else np.nan))
    return pd.DataFrame(rows)


def one_vs_rest(y_true, y_pred, class_names: list[str]) -> pd.DataFrame:
    """Per class: the 2x2 one-vs-rest counts and the sensitivity / specificity they give."""
    k = len(class_names)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    rows = []
    for c, name in enumerate(class_names):
        tp = cm[c, c]
        fn, fp = cm[c].sum() - tp, cm[:, c].sum() - tp
        tn = cm.sum() - tp - fn - fp
        rows.append(dict(class_name=name, TP=tp, FN=fn, FP=fp, TN=tn,
                         sensitivity=tp / (tp + fn) if tp + fn else 0.0, specificity=tn / (tn + fp) if tn + fp else 0.0))
    return pd.DataFrame(rows).set_index("class_name")


def majority_share(labels) -> float:
    """Share of the largest class among `labels`: the accuracy of always answering it."""
    labels = np.asarray(labels, dtype=int)
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else float("nan")
