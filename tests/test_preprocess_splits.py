"""Preprocessing ranges, cache, near-duplicate groups and grouped splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data.duplicates import find_groups, group_ids, near_duplicate_pairs, twins_across
from helpers.data.preprocess import (
    from_generator_range,
    imagenet_normalize,
    load_images,
    to_generator_range,
)
from helpers.data.splits import grouped_folds, grouped_split, random_split, straddling_groups


def test_generator_range_round_trip():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    y = to_generator_range(x)
    assert y.min() == -1.0 and y.max() == 1.0 and y.dtype == np.float32
    assert np.array_equal(from_generator_range(y), x)


def test_imagenet_normalize():
    x = np.full((2, 4, 4), 255, np.uint8)
    y = imagenet_normalize(x)
    assert y.shape == (2, 3, 4, 4)
    assert np.allclose(y[0, :, 0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])


def test_load_images_cache(smoke_cfg, phantom_dir):
    from helpers.data import load_records

    df = load_records("phantom", phantom_dir, progress=False)
    a = load_images(df, 24, smoke_cfg.cache_dir, progress=False)
    assert a.shape == (len(df), 24, 24) and a.dtype == np.uint8
    assert len(list(smoke_cfg.cache_dir.glob("*.npy"))) == 1
    b = load_images(df, 24, smoke_cfg.cache_dir, progress=False)
    assert np.array_equal(a, b)


def _synthetic_groups(n_groups=40, per=3, n_classes=3, seed=0):
    """Random 'scans' with near-identical copies: (records, thumbs, true group)."""
    rng = np.random.default_rng(seed)
    thumbs, rows = [], []
    for g in range(n_groups):
        base = rng.normal(size=(32, 32))
        k = 1 + (g % per)
        for j in range(k):
            thumbs.append(base + 0.02 * rng.normal(size=(32, 32)))
            cls = ["benign", "normal", "malignant"][g % n_classes]
            rows.append(dict(path=f"{g}_{j}.png", class_name=cls, label=g % n_classes, group=len(rows), source="t"))
    return pd.DataFrame(rows), np.stack(thumbs), np.repeat(np.arange(n_groups), [1 + g % per for g in range(n_groups)])


def test_duplicate_groups_recover_truth():
    df, thumbs, truth = _synthetic_groups()
    rec, rep = find_groups(df, thumbs, 0.97)
    # same partition as the truth (up to renaming)
    assert pd.crosstab(rec["group"], truth).astype(bool).sum(axis=1).max() == 1
    assert rec["group"].nunique() == len(set(truth))
    assert rep.n_groups == sum(1 for g in range(40) if 1 + g % 3 > 1)
    assert len(rep.cross_class_pairs) == 0


def test_groups_chain_and_cross_class_is_reported():
    pairs = pd.DataFrame({"i": [0, 1], "j": [1, 2]})
    assert len(set(group_ids(4, pairs)[:3])) == 1 and group_ids(4, pairs)[3] != group_ids(4, pairs)[0]
    df, thumbs, _ = _synthetic_groups(n_groups=6)
    df.loc[1, "class_name"] = "malignant"  # a labelling conflict inside group 1
    _, rep = find_groups(df, thumbs, 0.97)
    assert len(rep.cross_class_pairs) >= 1


@pytest.mark.parametrize("seed", [0, 1])
def test_grouped_split_and_folds_keep_groups_whole(seed):
    df, thumbs, truth = _synthetic_groups(n_groups=90)
    df["group"] = truth
    split = grouped_split(df, 0.15, 0.15, seed=seed)
    df["split"], df["fold"] = split, grouped_folds(df, 5, seed=seed)
    assert straddling_groups(df, "split") == [] and straddling_groups(df, "fold") == []
    frac = df["split"].value_counts(normalize=True)
    assert 0.6 < frac["train"] < 0.8 and 0.08 < frac["test"] < 0.25 and 0.08 < frac["val"] < 0.25
    for part in ("train", "val", "test"):  # stratified: every class in every part
        assert df.loc[df.split == part, "class_name"].nunique() == 3
    assert sorted(df["fold"].unique()) == [0, 1, 2, 3, 4]
    assert twins_across(df, thumbs, "split") == 0
    df["random"] = random_split(df, seed=seed)
    assert twins_across(df, thumbs, "random") > 0  # the leak the grouped split prevents


def test_too_few_groups_is_a_clear_error():
    df, _, truth = _synthetic_groups(n_groups=6)
    df["group"] = truth
    from helpers.data import DataError

    with pytest.raises(DataError, match="too few"):
        grouped_folds(df, 10)


def test_near_duplicate_pairs_threshold():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 32))
    thumbs = np.stack([a, a * 2 + 5, rng.normal(size=(32, 32))])  # correlation is scale-free
    p = near_duplicate_pairs(thumbs, 0.99)
    assert list(zip(p.i, p.j)) == [(0, 1)]


@pytest.mark.parametrize("n_folds", [1, 0, 2.5])
def test_fewer_than_two_folds_is_refused_in_one_line(smoke_cfg, n_folds):
    """From Python too (the command refuses it first): not scikit-learn's ValueError."""
    from dataclasses import replace

    from helpers.data import DataError
    from helpers.prepare import prepare

    with pytest.raises(DataError, match=f"n_folds wants a whole number >= 2 .*; got {n_folds}. Use `python -m helpers"):
        prepare(replace(smoke_cfg, n_folds=n_folds), progress=False, verbose=False)


def test_a_small_class_is_told_what_part_needs_more_groups():
    """5 images of a class: the held-out test part (one in 7) is what needs more, and fewer
    folds would not help; the folds' own limit names the folds."""
    from helpers.data import DataError

    df, _, truth = _synthetic_groups(n_groups=15)  # 5 groups per class
    df["group"] = truth
    with pytest.raises(DataError, match=r"only 5 .* too few for the held-out test part \(test_frac 0.15, one part in 7\), "
                                        r"which needs 7 per class.*folds does not change this"):
        grouped_split(df)
    assert grouped_split(df, test_frac=0.25, val_frac=0.25).isin(["train", "val", "test"]).all()
    with pytest.raises(DataError, match=r"too few for 6 grouped folds, which needs 6 per class.*use fewer folds"):
        grouped_folds(df, 6)
