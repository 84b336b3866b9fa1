"""The shared Trainer: resume equivalence, history without double counting, NaN guard."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from helpers.train.checkpoint import load_checkpoint
from helpers.train.loop import CHECKPOINT, Trainer, TrainingDiverged


def _fit(run_dir, total, poison_at=None, every=3):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(123)
    data = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    target = data.sum(1, keepdim=True)
    trainer = Trainer(run_dir, total, {"model": model}, {"opt": opt}, g, checkpoint_every=every,
                      sample_every=every, sample_fn=lambda s: torch.rand(4, 1, 8, 8, generator=g) * 2 - 1,
                      config={"lr": 1e-2, "steps": total}, progress=False)

    def step(i):
        idx = torch.randint(0, 64, (16,), generator=g)
        loss = ((model(data[idx]) - target[idx]) ** 2).mean()
        if poison_at is not None and i == poison_at:
            loss = loss * math.nan
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    return trainer.run(step), model


def test_resume_gives_identical_weights(tmp_path):
    straight, m1 = _fit(tmp_path / "a", 10)
    _fit(tmp_path / "b", 4)  # "interrupted" after 4 steps (checkpoint at 3 and 4)
    resumed, m2 = _fit(tmp_path / "b", 10)
    assert resumed.resumed_from == 4
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    a, b = pd.read_csv(tmp_path / "a" / "history.csv"), pd.read_csv(tmp_path / "b" / "history.csv")
    assert list(b["step"]) == list(range(1, 11))  # no step logged twice
    pd.testing.assert_frame_equal(a, b)
    assert len(straight.samples()) == 5  # steps 0, 3, 6, 9, 10
    assert len(resumed.samples()) == 6  # and step 4, where the first run ended
    fresh = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 1))
    fresh.load_state_dict(load_checkpoint(tmp_path / "a" / CHECKPOINT)[0]["modules"]["model"])
    assert torch.equal(fresh[0].weight, m1[0].weight)


def test_kill_between_checkpoints_redoes_lost_steps(tmp_path):
    _fit(tmp_path / "a", 8)
    _fit(tmp_path / "b", 3)
    # a run killed at step 5 left history rows up to the checkpoint at step 3 only
    ref, m_ref = _fit(tmp_path / "c", 8)
    h, m = _fit(tmp_path / "b", 8)
    assert torch.equal(next(m.parameters()), next(m_ref.parameters()))
    assert list(h.frame["step"]) == list(range(1, 9))


def test_nan_guard_names_the_metric_and_keeps_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"'loss' = nan at step 5.*checkpoint"):
        _fit(tmp_path / "a", 10, poison_at=5)
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 3


def test_resume_refuses_other_settings(tmp_path):
    _fit(tmp_path / "a", 3)
    model = nn.Linear(4, 1)
    t = Trainer(tmp_path / "a", 5, {"model": model}, {}, torch.Generator(), config={"lr": 0.5}, progress=False)
    with pytest.raises(ValueError, match="other settings.*lr"):
        t.resume()


def test_shorter_budget_loads_the_longer_run_and_says_so(tmp_path, capsys):
    _, long_model = _fit(tmp_path / "a", 6)
    capsys.readouterr()
    _, again = _fit(tmp_path / "a", 4)  # asked for fewer steps than the folder holds
    out = capsys.readouterr().out
    assert "holds 6 steps, more than the 4 asked" in out and str(tmp_path / "a") in out
    for p, q in zip(long_model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    _fit(tmp_path / "a", 6)
    assert "more than" not in capsys.readouterr().out  # the same budget: loaded without a note
