"""The memorisation check flags copies of training images (exact, shifted, mirrored, noisy)
and passes new images, including ones that only look alike."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.data.duplicates import THUMB_SIZE
from helpers.data.phantom import make_phantom
from helpers.data.preprocess import load_images
from helpers.prepare import load_prepared
from helpers.quality import memorisation as mem


def _thumb(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BILINEAR))


@pytest.fixture
def thumbs(smoke_cfg):
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    load = lambda r: load_images(r, THUMB_SIZE, None, progress=False, resample="bilinear")  # noqa: E731
    return load(records[records["split"] == "train"]), load(records[records["split"] != "train"])


def test_flags_an_exact_copy_and_passes_a_fresh_image(thumbs):
    train, heldout = thumbs
    threshold, scores = mem.calibrate(heldout, train, quantile=0.99)
    assert len(scores) == len(heldout) and threshold < 0.99
    fresh = _thumb(make_phantom("benign", 500, seed=123, size=64).image)  # never in the data set
    copy = train[3]
    mirrored = train[5][:, ::-1]
    noisy = np.clip(train[7] + np.random.default_rng(0).normal(0, 4, train[7].shape), 0, 255).astype(np.uint8)
    result = mem.check(np.stack([copy, fresh, mirrored, noisy]), train, threshold)
    t = result.table
    assert t["flagged"].tolist() == [True, False, True, True]
    assert t.loc[0, "nearest"] == 3 and t.loc[0, "corr"] == pytest.approx(1.0)
    assert t.loc[1, "corr"] < threshold
    assert t.loc[2, "nearest"] == 5 and bool(t.loc[2, "flipped"])
    assert result.fraction_flagged == 0.75
    assert result.closest(1)["index"].tolist() in ([0], [2])


def test_nearest_without_flips_misses_a_mirrored_copy(thumbs):
    train, _ = thumbs
    _, with_flips, _ = mem.nearest(train[5:6, :, ::-1], train, flips=True)
    _, without, _ = mem.nearest(train[5:6, :, ::-1], train, flips=False)
    assert with_flips[0] == pytest.approx(1.0) and without[0] < with_flips[0]


@pytest.fixture
def images(smoke_cfg):
    """The smoke split's images at working size (32 px)."""
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    load = lambda r: load_images(r, smoke_cfg.size, None, progress=False, resample="bilinear")  # noqa: E731
    return load(records[records["split"] == "train"]), load(records[records["split"] != "train"])


def test_calibrated_threshold_flags_copies_and_not_lookalikes(images):
    train, heldout = images
    threshold, _ = mem.calibrate(heldout, train)
    assert mem.FLOOR <= threshold <= mem.CAP
    t = mem.copy_tests(train, heldout, threshold, n=20, seed=1).groupby("kind")["flagged"].mean()
    assert t["exact copy"] == 1.0
    assert t["shifted copy"] >= 0.95  # moved by up to 2 px, mirrored half the time, gain and noise changed
    assert t["look-alike"] <= 0.05   # the same anatomy with new speckle is not a copy


def test_a_shifted_copy_is_found_with_its_shift(images):
    train, _ = images
    moved = np.roll(train[4], (2, -1), (0, 1))[None]
    idx, corr, flipped, shift = mem.aligned_nearest(moved, train)
    assert idx[0] == 4 and corr[0] > 0.99 and not flipped[0]
    assert tuple(shift[0]) == (-2, 1)
    _, plain, _ = mem.nearest(moved, train)  # without alignment the copy looks far less close
    assert plain[0] < corr[0]


def test_calibrate_needs_heldout_images(thumbs):
    with pytest.raises(ValueError, match="held-out"):
        mem.calibrate(thumbs[0][:0], thumbs[0])


def test_closest_pairs_figure_draws_pairs(thumbs):
    train, heldout = thumbs
    result = mem.check(np.concatenate([train[:2], heldout[:3]]), train, 0.9)
    fig = mem.closest_pairs_figure(np.concatenate([train[:2], heldout[:3]]), train, result, n=4)
    assert len(fig.axes) == 8
    only = mem.closest_pairs_figure(np.concatenate([train[:2], heldout[:3]]), train, result, n=4, only_flagged=True)
    assert len(only.axes) == 2 * len(result.flagged().head(4))
