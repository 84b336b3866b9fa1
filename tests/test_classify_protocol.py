"""The guard: nothing synthetic, and nothing a generator saw, ever reaches an evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.classify.data import plain
from helpers.classify.grid import train_run
from helpers.classify.presets import PRESETS
from helpers.classify.protocol import ProtocolError, check_evaluation
from helpers.classify.settings import Setting
from helpers.prepare import load_prepared
from helpers.synth import read_manifest, synthetic_dir, write_synthetic_set


def _fake_set(runs_dir, name, trained_on, counts=None):
    """A synthetic set from a 'generator' that draws noise, saying what it was trained on."""
    def sample(cls, n, seed):
        return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32), dtype=np.uint8)

    counts = counts or {"benign": 4, "normal": 4, "malignant": 4}
    return write_synthetic_set(synthetic_dir(runs_dir, name), name, sample, counts, dataset="phantom",
                               progress=False, trained_on=list(trained_on))


@pytest.fixture
def records(smoke_cfg):
    return plain(load_prepared(smoke_cfg, progress=False, verbose=False))


def test_clean_fold_passes(smoke_cfg, records):
    train, test = records[records.fold != 0], records[records.fold == 0]
    m = _fake_set(smoke_cfg.runs_dir, "fake-fold0", train["path"])
    syn = read_manifest(m)
    check_evaluation(test, train, [m], all_records=records)
    check_evaluation(test, pd.concat([train, syn]), [m], all_records=records)


def test_synthetic_image_in_evaluation_raises(smoke_cfg, records):
    train, test = records[records.fold != 0], records[records.fold == 0]
    m = _fake_set(smoke_cfg.runs_dir, "fake-fold0", train["path"])
    syn = read_manifest(m)
    with pytest.raises(ProtocolError, match="synthetic image"):
        check_evaluation(pd.concat([test, syn.iloc[:1]]), train, [m])
    # the same image relabelled as real is still caught through the manifest
    with pytest.raises(ProtocolError, match="listed in the synthetic manifest"):
        check_evaluation(pd.concat([test, syn.iloc[:1].assign(source="phantom")]), train, [m])


def test_generator_trained_on_test_images_raises(smoke_cfg, records):
    train, test = records[records.fold != 0], records[records.fold == 0]
    leaky = _fake_set(smoke_cfg.runs_dir, "leaky", records["path"])  # trained on ALL images (the DCGAN study)
    with pytest.raises(ProtocolError, match="trained on .* evaluation image"):
        check_evaluation(test, train, [leaky], all_records=records)


def test_generator_trained_on_a_near_duplicate_of_a_test_image_raises(smoke_cfg, records):
    test = records[records.fold == 0]
    multi = test.groupby("group").filter(lambda g: len(g) > 1)
    if multi.empty:
        pytest.skip("no near-duplicate group in this fold")
    g = multi["group"].iloc[0]
    twin = multi[multi.group == g]["path"].iloc[0]
    # pretend the twin sits in training: move it out of the evaluation set
    eval_records = test[test.path != twin]
    train = records[records.fold != 0]
    m = _fake_set(smoke_cfg.runs_dir, "near", list(train["path"]) + [twin])
    with pytest.raises(ProtocolError, match="near-duplicates"):
        check_evaluation(eval_records, train, [m], all_records=records)


def test_missing_trained_on_and_overlaps_raise(smoke_cfg, records):
    train, test = records[records.fold != 0], records[records.fold == 0]
    m = _fake_set(smoke_cfg.runs_dir, "fake", train["path"])
    (m.parent / "trained_on.csv").unlink()
    with pytest.raises(Exception, match="trained_on.csv is missing"):
        check_evaluation(test, train, [m], all_records=records)
    with pytest.raises(ProtocolError, match="both the training and the evaluation"):
        check_evaluation(test, pd.concat([train, test.iloc[:1]]))
    with pytest.raises(ProtocolError, match="empty"):
        check_evaluation(test.iloc[:0], train)


def test_training_a_run_with_a_leaky_generator_is_refused(smoke_cfg, records, tmp_path):
    """End to end: the grid will not score a classifier that used a generator which saw the test fold."""
    leaky = _fake_set(smoke_cfg.runs_dir, "leaky-fold0", records["path"])
    with pytest.raises(ProtocolError, match="evaluation image"):
        train_run(smoke_cfg, "tiny", Setting.parse("real+syn:leaky"), 0, 0, records, PRESETS["smoke"],
                  tmp_path / "run", leaky)
    assert not (tmp_path / "run" / "preds.csv").exists()


# -- content matching and named shortcuts ---------------------------------------------------------
def test_a_test_image_copied_to_another_path_is_refused_by_content(smoke_cfg, records, tmp_path):
    """The guard used to match by path only: a copy of a test image under another name got in."""
    import shutil

    from PIL import Image

    train, test = records[records.fold != 0], records[records.fold == 0]
    src = test["path"].iloc[0]
    copy = tmp_path / "elsewhere" / "renamed.png"
    copy.parent.mkdir()
    shutil.copy(src, copy)
    smuggled = pd.concat([train, test.iloc[:1].assign(path=str(copy), group=-999)])
    with pytest.raises(ProtocolError, match="exactly the pixels of a training image"):
        check_evaluation(test, smuggled, all_records=records)
    # re-saved at another size: not the same pixels, but a near-duplicate by thumbnail correlation
    small = tmp_path / "elsewhere" / "resized.png"
    with Image.open(src) as im:
        im.convert("L").resize((48, 48)).save(small)
    smuggled = pd.concat([train, test.iloc[:1].assign(path=str(small), group=-999)])
    with pytest.raises(ProtocolError, match="near-duplicate in training"):
        check_evaluation(test, smuggled, all_records=records)


def test_a_generator_trained_on_a_copy_of_a_test_image_is_refused(smoke_cfg, records, tmp_path):
    import shutil

    train, test = records[records.fold != 0], records[records.fold == 0]
    copy = tmp_path / "copy.png"
    shutil.copy(test["path"].iloc[0], copy)
    m = _fake_set(smoke_cfg.runs_dir, "sneaky", list(train["path"]) + [str(copy)])
    with pytest.raises(ProtocolError, match="trained on 1 evaluation image"):
        check_evaluation(test, train, [m], all_records=records)


def test_a_named_shortcut_is_reported_not_raised(smoke_cfg, records):
    from helpers.classify.protocol import LEAKS, Violation, protocol_name

    train, test = records[records.fold != 0], records[records.fold == 0]
    assert check_evaluation(test, train) == []  # honest: nothing to report
    leaky = _fake_set(smoke_cfg.runs_dir, "leaky-all", records["path"])
    found = check_evaluation(test, train, [leaky], all_records=records, leak="generator-saw-test")
    assert [v.rule for v in found][0] == "generator-saw-test" and isinstance(found[0], Violation)
    assert found[0].count == len(test)
    assert {v.rule for v in found} <= set(LEAKS["generator-saw-test"])
    assert protocol_name("generator-saw-test") == "leaky:generator-saw-test" and protocol_name(None) == "honest"
    # a named shortcut lets through ITS violations only: a synthetic test image is still refused
    syn = read_manifest(leaky)
    with pytest.raises(ProtocolError, match="synthetic image"):
        check_evaluation(pd.concat([test, syn.iloc[:1]]), train, [leaky], all_records=records,
                         leak="generator-saw-test")
    found = check_evaluation(pd.concat([test, syn.iloc[:1]]), train, [leaky], all_records=records,
                             leak=("generator-saw-test", "synthetic-in-test"))
    assert "synthetic-in-test" in {v.rule for v in found}
    with pytest.raises(Exception, match="Unknown leak"):
        check_evaluation(test, train, leak="peeking")


def test_a_random_split_is_reported_as_such(smoke_cfg, records):
    from helpers.pitfalls.splits import random_folds

    multi = records.groupby("group").filter(lambda g: len(g) > 1)
    if multi.empty:
        pytest.skip("no near-duplicate group in the smoke phantom")
    g = multi["group"].iloc[0]
    pair = records.index[records.group == g][:2]
    r = records.assign(fold=random_folds(records, 3, 0))
    r.loc[pair[0], "fold"], r.loc[pair[1], "fold"] = 0, 1  # twins on both sides, as a random split does
    train, test = r[r.fold != 0], r[r.fold == 0]
    with pytest.raises(ProtocolError, match="near-duplicate group"):
        check_evaluation(test, train, all_records=r)
    found = check_evaluation(test, train, all_records=r, leak="random-split")
    assert "same-group" in {v.rule for v in found}
    # the same twins with the group ids hidden are still found, by content
    hidden = r.assign(group=range(len(r)))
    with pytest.raises(ProtocolError, match="near-duplicate in training"):
        check_evaluation(hidden[hidden.fold == 0], hidden[hidden.fold != 0], all_records=hidden)


def test_a_synthetic_set_listing_a_brightened_test_image_is_refused(smoke_cfg, records):
    """Not the same pixels, but a near-copy by the course's near-duplicate measure: a test image
    brightened by one grey level and listed as synthetic must not reach training."""
    from PIL import Image

    train, test = records[records.fold != 0], records[records.fold == 0]
    m = _fake_set(smoke_cfg.runs_dir, "brightened", train["path"])
    syn = read_manifest(m)
    src = test["path"].iloc[0]
    with Image.open(src) as im:
        px = np.asarray(im.convert("L"), dtype=np.int16)
    Image.fromarray(np.clip(px + 1, 0, 255).astype(np.uint8)).save(syn["path"].iloc[0])
    with pytest.raises(ProtocolError, match="near-copies") as err:
        check_evaluation(test, pd.concat([train, syn]), [m], all_records=records,
                         dup_threshold=smoke_cfg.dup_threshold)
    assert src in str(err.value) and "\n" not in str(err.value)
