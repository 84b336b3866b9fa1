"""A run keeps its state at half its steps; an equal run of that many steps starts from it
(helpers.train.halfway) and ends where one trained from nothing ends."""

from __future__ import annotations

import numpy as np
import torch

from helpers.gan.pipeline import HALFWAY, train_run
from helpers.train.loop import CHECKPOINT


def _images(n=12, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def _weights(run_dir):
    ck = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    return ck["step"], ck["modules"]["generator"]


def test_a_half_budget_run_starts_from_the_main_runs_halfway_state(smoke_cfg, tmp_path, capsys):
    torch.set_num_threads(1)
    x, gen = _images(), smoke_cfg.runs_dir / "generators"
    calls = []

    def counted(run):  # the default step, counted
        from helpers.gan.steps import wgan_step
        calls.append(1)
        return wgan_step(run)

    def train(folder, steps, **kw):
        return train_run("wgan-gp", x, smoke_cfg, folder, steps=steps, progress=False, seed=5, step=counted, **kw)

    train(gen / "main" / "benign", 4)
    assert len(calls) == 4 and len(list((gen / HALFWAY).iterdir())) == 1
    calls.clear()
    half = train(gen / "half" / "benign", 2)
    assert calls == [] and "starting from step 2 of an earlier run" in capsys.readouterr().out
    assert list(half.frame["step"]) == [1, 2]
    # the same as two steps from nothing, in a folder that keeps and finds no halfway state
    fresh = train(tmp_path / "elsewhere" / "benign", 2)
    assert len(calls) == 2 and not (tmp_path / HALFWAY).exists()
    (s1, w1), (s2, w2) = _weights(gen / "half" / "benign"), _weights(tmp_path / "elsewhere" / "benign")
    assert s1 == s2 == 2 and all(torch.equal(w1[k], w2[k]) for k in w1)
    np.testing.assert_allclose(half.frame.drop(columns="step").to_numpy(), fresh.frame.drop(columns="step").to_numpy())
    # another setting, seed or longer budget: trained from nothing (or from the kept step on)
    calls.clear()
    train(gen / "other" / "benign", 2, gp_weight=1.0)
    assert len(calls) == 2
    calls.clear()
    train(gen / "longer" / "benign", 6)
    assert len(calls) == 4  # from the kept step 2
