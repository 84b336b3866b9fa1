"""Metrics agree with scikit-learn; bootstrap intervals cover the point estimate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from helpers.classify import bootstrap as B
from helpers.classify import metrics as M
from helpers.exercises.evaluation import toy_predictions

CLASSES = ["benign", "normal", "malignant"]


def _fixed(n=90, seed=3, skill=1.5):
    return toy_predictions(n, seed, skill)


def _sklearn(y, p):
    pred = p.argmax(1)
    out = dict(accuracy=accuracy_score(y, pred), mcc=matthews_corrcoef(y, pred), kappa=cohen_kappa_score(y, pred),
               precision_macro=precision_score(y, pred, average="macro", zero_division=0),
               recall_macro=recall_score(y, pred, average="macro", zero_division=0),
               f1_macro=f1_score(y, pred, average="macro", zero_division=0),
               auc_macro=roc_auc_score(y, p, multi_class="ovr", average="macro"))
    for c, name in enumerate(CLASSES):
        out[f"precision_{name}"] = precision_score(y == c, pred == c, zero_division=0)
        out[f"recall_{name}"] = out[f"sensitivity_{name}"] = recall_score(y == c, pred == c, zero_division=0)
        out[f"f1_{name}"] = f1_score(y == c, pred == c, zero_division=0)
        # specificity is the recall of the "rest" class in the one-vs-rest problem
        out[f"specificity_{name}"] = recall_score(y != c, pred != c, zero_division=0)
        out[f"auc_{name}"] = roc_auc_score(y == c, p[:, c])
    return out


@pytest.mark.parametrize("seed,skill", [(3, 1.5), (7, 0.0), (11, 4.0)])
def test_score_and_vectorised_versions_match_sklearn(seed, skill):
    y, p = _fixed(seed=seed, skill=skill)
    ref = _sklearn(y, p)
    got = M.score(y, p, CLASSES)
    assert set(got) == set(M.metric_names(CLASSES))
    batch = M.batch_scores(y, p, np.ones((1, len(y))), CLASSES)
    for m, v in ref.items():
        assert got[m] == pytest.approx(v, abs=1e-12), m
        assert batch[m][0] == pytest.approx(v, abs=1e-12), m


def test_vectorised_resamples_match_sklearn_per_resample():
    y, p = _fixed(n=60, seed=5)
    w = B.weights(None, 5, seed=1, n=len(y))
    batch = M.batch_scores(y, p, w, CLASSES)
    for b in range(5):
        idx = np.repeat(np.arange(len(y)), w[b])  # the resample as a list of drawn images
        yb, pb = y[idx], p[idx]
        if len(np.unique(yb)) < 3:
            continue
        ref = _sklearn(yb, pb)
        for m in ("accuracy", "mcc", "kappa", "f1_macro", "auc_macro", "specificity_normal", "auc_malignant"):
            assert batch[m][b] == pytest.approx(ref[m], abs=1e-12), (b, m)


def test_auc_with_ties_and_degenerate_predictions_match_sklearn():
    y = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    p = np.tile([0.5, 0.3, 0.2], (10, 1))  # every score tied, every prediction "benign"
    p[::3] = [0.2, 0.3, 0.5]
    ref, got = _sklearn(y, p), M.score(y, p, CLASSES)
    batch = M.batch_scores(y, p, np.ones((1, 10)), CLASSES)
    for m in ref:
        assert got[m] == pytest.approx(ref[m], abs=1e-12), m
        assert batch[m][0] == pytest.approx(ref[m], abs=1e-12), m


def test_bootstrap_ci_covers_point_estimate_and_narrows_with_more_images():
    y, p = _fixed(n=120, seed=2)
    ci = M.bootstrap(y, p, CLASSES, n_boot=500, seed=0)
    assert ci["metric"].tolist() == M.metric_names(CLASSES)
    assert ((ci["lo"] <= ci["value"] + 1e-12) & (ci["value"] <= ci["hi"] + 1e-12)).all()
    assert (ci["hi"] - ci["lo"]).loc[ci["metric"] == "accuracy"].item() > 0
    y4, p4 = np.tile(y, 4), np.tile(p, (4, 1))
    wide = ci.set_index("metric").loc["accuracy"]
    narrow = M.bootstrap(y4, p4, CLASSES, n_boot=500, seed=0).set_index("metric").loc["accuracy"]
    assert narrow["hi"] - narrow["lo"] < wide["hi"] - wide["lo"]


def test_group_bootstrap_draws_whole_groups():
    groups = np.repeat(np.arange(10), 3)
    w = B.weights(groups, 20, seed=0)
    assert w.shape == (20, 30)
    # the members of a group are drawn together: one weight per group, ten groups per resample
    assert (w.reshape(20, 10, 3) == w[:, ::3, None]).all() and (w.sum(1) == 30).all()
    # copies of one image drawn as a group give a wider interval than if they were independent
    y, p = _fixed(n=30, seed=4)
    y3, p3 = np.repeat(y[:10], 3), np.repeat(p[:10], 3, axis=0)
    iid = M.bootstrap(y3, p3, CLASSES, 400, 0).set_index("metric").loc["accuracy"]
    grp = M.bootstrap(y3, p3, CLASSES, 400, 0, groups=groups).set_index("metric").loc["accuracy"]
    assert grp["hi"] - grp["lo"] > iid["hi"] - iid["lo"]


def test_cluster_bootstrap_draws_as_many_groups_as_there_are_whatever_their_size():
    """A resample is as many group draws as there are groups (the standard cluster bootstrap),
    not groups drawn until the image count is reached: one large group and one single image
    are drawn equally often, and the resample's size varies with what was drawn."""
    groups = ["big"] * 9 + ["one"]
    counts, inv = B.group_counts(groups, 4000, seed=1)
    assert (counts.sum(1) == 2).all()
    assert abs(counts[:, 0].mean() - counts[:, 1].mean()) < 0.1
    w = counts[:, inv]
    assert set(w.sum(1)) == {2, 10, 18}  # two singles, one of each, or the big group twice
    # the same draws as the sums of notebook 09's tables, image by image
    v = np.arange(10.0)
    np.testing.assert_allclose(B.resampled_sums(groups, 4000, 1, v)[0], w @ v)
    # without groups: the exercises' draws, image by image
    idx = np.random.default_rng(3).integers(0, 7, size=(5, 7))
    assert (B.weights(None, 5, 3, n=7) == np.stack([np.bincount(r, minlength=7) for r in idx])).all()


def test_verdict_reads_an_interval_in_the_callers_words():
    assert B.verdict(0.01, 0.2) == "inflates" and B.verdict(-0.3, -0.1) == "deflates"
    assert B.verdict(-0.1, 0.1) == "includes 0" and B.verdict(np.nan, 0.1) == "no interval"
    words = ("better", "worse", "same")
    assert [B.verdict(lo, hi, words) for lo, hi in [(0.1, 0.2), (-0.2, -0.1), (0, 0)]] == list(words)


def test_majority_share_is_the_accuracy_of_always_answering_the_largest_class():
    assert M.majority_share([0, 1, 1, 2]) == 0.5 and np.isnan(M.majority_share([]))


def test_paired_difference():
    y, pa = _fixed(n=100, seed=8, skill=0.5)
    _, pb = _fixed(n=100, seed=8, skill=3.0)  # same noise, more signal: better on the same images
    same = M.paired_difference(y, pa, pa, CLASSES, n_boot=200).set_index("metric")
    assert (same["diff"] == 0).all() and (same["lo"] == 0).all() and (same["hi"] == 0).all()
    d = M.paired_difference(y, pa, pb, CLASSES, n_boot=500).set_index("metric")
    acc = d.loc["accuracy"]
    assert acc["diff"] == pytest.approx(M.score(y, pb, CLASSES)["accuracy"] - M.score(y, pa, CLASSES)["accuracy"])
    assert 0 < acc["lo"] <= acc["diff"] <= acc["hi"] and acc["p"] < 0.05


def test_one_vs_rest_table_and_bad_input():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 2, 0, 2])
    t = M.one_vs_rest(y, pred, CLASSES)
    assert t.loc["benign"].tolist()[:4] == [2, 1, 1, 4]  # TP FN FP TN
    assert t.loc["benign", "specificity"] == pytest.approx(recall_score(y != 0, pred != 0))
    np.testing.assert_allclose(t["specificity"], [recall_score(y != c, pred != c) for c in range(3)])
    with pytest.raises(ValueError, match="one row per label"):
        M.score(y, np.zeros((3, 3)), CLASSES)
