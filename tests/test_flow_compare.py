"""Notebook 06c's comparison and exercises: the checks accept the right answer and refuse near
misses; the verdicts say "not distinguishable" within the noise; DDIM with one step starts from noise;
flow matching is one setting beyond the studies in notebook 08's grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.classify.settings import Setting
from helpers.classify.studies import rows_for_conclusions, settings_for
from helpers.ddpm.diffusion import ddim_timesteps
from helpers.exercises.flow import check_euler_sampler, check_flow_loss
from helpers.flow import compare


def _loss(velocity, x0, x1, t, target=lambda x0, x1: x1 - x0, flip=False):
    tb = t.reshape(-1, 1, 1, 1)
    tb = 1 - tb if flip else tb
    return (velocity((1 - tb) * x0 + tb * x1, t) - target(x0, x1)).square().mean()


def test_loss_check_accepts_the_loss_and_refuses_a_wrong_target_or_time_direction(capsys):
    check_flow_loss(_loss)
    assert capsys.readouterr().out.startswith("Correct:")
    with pytest.raises(AssertionError, match="the target"):
        check_flow_loss(lambda v, x0, x1, t: _loss(v, x0, x1, t, target=lambda a, b: a - b))
    with pytest.raises(AssertionError, match="t = 0 is the noise"):
        check_flow_loss(lambda v, x0, x1, t: _loss(v, x0, x1, t, flip=True))
    with pytest.raises(AssertionError, match="one number"):
        check_flow_loss(lambda v, x0, x1, t: (v(x0, t) - (x1 - x0)).square())


def _euler(velocity, x0, n, start=lambda k, h: k * h):
    x, h = x0, 1.0 / n
    for k in range(n):
        x = x + h * velocity(x, start(k, h))
    return x


def test_euler_check_accepts_euler_and_refuses_the_velocity_at_the_step_end(capsys):
    check_euler_sampler(_euler)
    assert capsys.readouterr().out.startswith("Correct:")
    with pytest.raises(AssertionError, match="velocity at its start"):
        check_euler_sampler(lambda v, x0, n: _euler(v, x0, n, start=lambda k, h: (k + 1) * h))


def test_ddim_with_one_step_starts_from_the_noisiest_step():
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(1000, 2) == [999, 0]


def test_wilson_interval_holds_the_proportion():
    lo, hi = compare.wilson(7, 10)
    assert lo < 0.7 < hi and 0 < lo and hi < 1
    assert compare.wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12) and compare.wilson(10, 10)[1] == pytest.approx(1.0)


def _row(sampler, nfe, swd, acc, n=30, sd=0.01):
    lo, hi = compare.wilson(round(acc * n), n)
    return dict(sampler=sampler, nfe=nfe, swd=swd, swd_floor=0.05, swd_floor_sd=sd, stats_dist=swd * 10,
                stats_floor=0.5, stats_floor_sd=10 * sd, label_acc=acc, label_acc_lo=lo, label_acc_hi=hi,
                label_acc_real=0.8, s_per_image=0.01, n_images=n)


def test_verdicts_name_a_winner_only_beyond_the_noise():
    euler, ddim = compare.NAMES["euler"], compare.NAMES["ddim"]
    table = pd.DataFrame([_row(euler, 1, 0.10, 1.0), _row(ddim, 1, 0.30, 0.10),   # flow far ahead on both
                          _row(euler, 8, 0.30, 0.60), _row(ddim, 8, 0.31, 0.63)])  # within the noise
    v = compare.verdicts(table).set_index("nfe")
    assert (v.loc[1, "swd"], v.loc[1, "stats_dist"], v.loc[1, "label_accuracy"]) == ("flow", "flow", "flow")
    assert set(v.loc[8, ["swd", "stats_dist", "label_accuracy"]]) == {"not distinguishable"}
    text = compare.paragraph(table)
    assert "flow matching wins at NFE 1" in text and "not distinguishable at NFE 8" in text
    assert "(flow, Euler at NFE 1) means samples that exaggerate" in text  # [0.89, 1] lies above 0.8


def test_swd_floor_and_table_on_drawn_images():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 16, 16), dtype=np.uint8)
    labels = np.arange(40) % 2
    fl = compare.floors(real, labels, 4, draws=5)
    assert fl["swd"][0] > 0 and fl["stats"][0] > 0 and fl["swd"][1] >= 0

    class Probe:
        def predict(self, x):
            return np.zeros(len(x), dtype=int)

        def accuracy(self, x, y):
            return 0.5

    drawn = {("euler", 1): (torch.rand(8, 1, 16, 16) * 2 - 1, np.repeat([0, 1], 4), 0.8)}
    t = compare.nfe_table(drawn, real, labels, Probe(), real[:4], labels[:4])
    assert t.loc[0, "label_acc"] == 0.5 and t.loc[0, "s_per_image"] == pytest.approx(0.1)


def test_flow_is_one_setting_beyond_the_studies():
    names = [s.name for s in settings_for(["ddpm", "flow"], sweep=False)]
    assert "real+syn:flow" in names and not any("flow" in n for n in names if n != "real+syn:flow")
    rows = {r[1]: r for r in rows_for_conclusions(["flow"])}
    label, _, gain, *_ = rows["real+syn:flow"]
    assert "beyond the five studies" in label and gain != gain  # no published gain to read it against
    assert Setting.parse("real+syn:flow").generator == "flow"


def test_plan_times_a_flow_step_and_counts_its_preset_steps(smoke_cfg, monkeypatch):
    """classify --plan knows flow matching: its step timed through its training call, one model,
    its preset's steps (the paper preset's on the paper profile)."""
    from helpers.classify import plan as P
    from helpers.classify import timing as T
    from helpers.classify.presets import PRESETS
    from helpers.classify.settings import plan
    from helpers.flow.presets import preset
    from helpers.prepare import load_prepared

    seen = []
    real = T.train_flow
    monkeypatch.setattr(T, "train_flow", lambda *a, **k: seen.append(a[3].batch) or real(*a, **k))
    assert T.time_generator_step("flow", smoke_cfg, 3) > 0 and seen
    assert P.generator_steps("flow", "paper", "busi") == preset("paper").steps
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    monkeypatch.setattr(T, "time_classifier", lambda *a, **k: T.RunCost(0.01, 0.005, 1.0))
    monkeypatch.setattr(T, "time_generator_step", lambda *a, **k: 0.02)
    runs = plan(records, ["tiny"], [Setting.parse("real+syn:flow", "none")], [0], [0])
    gens = P.make_plan(smoke_cfg, records, runs, PRESETS["smoke"], workers=1, progress=False)["generators"]
    row = gens.set_index("generator").loc["flow"]
    assert (row["steps"], row["models"]) == (preset("smoke").steps, 1)
    assert row["seconds"] == pytest.approx(preset("smoke").steps * 0.02)


class _Model:
    """A stand-in generator: one image per label in `labels`, class c's filled with c / 10 plus seeded noise."""

    def generate(self, labels, n, seed=0, method=None, nfe=None, steps=None):
        g = torch.Generator().manual_seed(seed)
        mean = torch.as_tensor(labels, dtype=torch.float32).reshape(-1, 1, 1, 1) / 10
        return (mean + 0.1 * torch.randn(len(labels), 1, 8, 8, generator=g)).clamp(-1, 1)


def test_draw_with_counts_per_class_and_the_first_of_each_class():
    drawn = compare.draw_at_nfe(_Model(), None, [3, 1], 2, [1, 2], samplers=[("flow", "euler"), ("flow", "heun")])
    assert set(drawn) == {("euler", 1), ("euler", 2), ("heun", 2)}  # Heun needs an even NFE
    x, y, sec = drawn[("euler", 2)]
    assert x.shape == (4, 1, 8, 8) and list(y) == [0, 0, 0, 1]
    x1, y1, sec1 = compare.first_per_class(drawn, 1)[("euler", 2)]
    assert list(y1) == [0, 1] and sec1 == pytest.approx(sec / 2)
    assert torch.equal(x1, x[[0, 3]])


def test_feature_scores_beside_the_real_floor_and_their_verdicts():
    """A set drawn like the real images scores near the floor; a shifted one far above it, and the
    verdicts name the closer one."""
    from helpers.data.preprocess import images_uint8
    from helpers.quality.metrics import halves

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    real = np.clip(rng.normal(0.1 * labels[:, None, None, None], 0.1, (80, 1, 8, 8)), -1, 1)
    extractor = lambda u8: u8.reshape(len(u8), -1)[:, :6].astype(float)  # noqa: E731
    f_real, splits = extractor(images_uint8(torch.tensor(real))), halves(labels, 3)
    like = torch.tensor(np.clip(rng.normal(0.1 * labels[:, None, None, None], 0.1, (80, 1, 8, 8)), -1, 1),
                        dtype=torch.float32)
    drawn = {("euler", 1): (like[::2], labels[::2], 1.0), ("ddim", 1): ((like[::2] + 0.5).clamp(-1, 1), labels[::2], 1.0)}
    t = compare.feature_scores(drawn, extractor, f_real, labels, splits, {0: "a", 1: "b"}, kid_subsets=10)
    assert list(t["sampler"]) == [compare.NAMES["ddim"], compare.NAMES["euler"]]
    assert (t["n_compared"] == t["n_real"]).all() and t["n_real"].iloc[0] == 40
    flow, ddpm = t.iloc[1], t.iloc[0]
    assert flow["fid"] < 3 * flow["fid_real"] + 1 < ddpm["fid"] and flow["precision"] > ddpm["precision"]
    v = compare.feature_verdicts(t).iloc[0]
    assert (v["fid"], v["kid"], v["precision"]) == ("flow", "flow", "flow")
    same = t.assign(fid=t["fid"].iloc[1], kid=t["kid"].iloc[1])
    assert compare.feature_verdicts(same).iloc[0][["fid", "kid"]].tolist() == ["not distinguishable"] * 2
