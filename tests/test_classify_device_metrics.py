"""The on-device loss and metric averages give fastai's numbers (checked on the CPU, where
both run; on a GPU only ours avoid the per-batch host wait)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _fit(keep: bool, tmp_path):
    from helpers.classify.data import make_dataloaders
    from helpers.classify.engine import keep_on_device, make_learner
    from helpers.config import seed_everything

    rng = np.random.default_rng(0)
    x = (rng.random((48, 32, 32)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, 48)
    table = pd.DataFrame(dict(path=[f"x{i}" for i in range(48)], label=y))
    seed_everything(0)  # torch, numpy and Python's random (fastai's shuffling)
    dls = make_dataloaders(table.iloc[:32], table.iloc[32:], 32, "none", 8, images=(x[:32], x[32:]))
    learn = make_learner(dls, "tiny", 3, pretrained=False, path=tmp_path)
    if keep:
        keep_on_device(learn)
    with learn.no_logging(), learn.no_bar():
        learn.fit(2, 1e-3)
    return learn.recorder.log, [float(v) for v in learn.recorder.losses]


def test_on_device_averages_equal_fastais(tmp_path):
    theirs, losses_theirs = _fit(False, tmp_path / "a")
    ours, losses_ours = _fit(True, tmp_path / "b")
    # epoch, train loss, valid loss, accuracy, time
    assert len(ours) == len(theirs) == 5
    assert all(isinstance(v, float) for v in ours[1:4])  # read out once, as plain numbers
    assert [float(v) for v in ours[1:4]] == pytest.approx([float(v) for v in theirs[1:4]], rel=1e-6)
    assert losses_ours == pytest.approx(losses_theirs, rel=1e-6)
