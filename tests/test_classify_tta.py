"""Test-time mirroring: with `tta` a classifier's probabilities are the average over each test
image and its mirror image, so they do not change when the test images are mirrored."""

from __future__ import annotations

import numpy as np

from helpers.classify.data import plain
from helpers.classify.engine import Recipe, fit_predict
from helpers.data.preprocess import load_images
from helpers.prepare import load_prepared


def _fit(cfg, train, test, images, tta):
    return fit_predict(cfg, Recipe("tiny", 3, 1e-2, 16, tta=tta), train, test, seed=0, images=images).probs


def test_mirroring_the_test_images_changes_nothing_with_tta(smoke_cfg):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    train = records[records["split"] != "test"].reset_index(drop=True).assign(source="real")
    test = records[records["split"] == "test"].reset_index(drop=True)
    x_train, x_test = load_images(train, smoke_cfg.size), load_images(test, smoke_cfg.size)
    mirrored = np.ascontiguousarray(x_test[:, :, ::-1])
    with_tta = [_fit(smoke_cfg, train, test, (x_train, x), True) for x in (x_test, mirrored)]
    np.testing.assert_allclose(with_tta[0], with_tta[1], atol=1e-6)
    without = [_fit(smoke_cfg, train, test, (x_train, x), False) for x in (x_test, mirrored)]
    assert np.abs(without[0] - without[1]).max() > 1e-4  # the network itself is not mirror-symmetric
    # and the average is of the two: halfway between the plain and the mirrored predictions
    np.testing.assert_allclose(with_tta[0], (without[0] + without[1]) / 2, atol=1e-6)
