"""Scoring sets with the same number of images per class, a second feature space, and the
comparison of quality scores with measured usefulness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.quality import usefulness as U
from helpers.quality.sampling import kind_of, scoring_set
from helpers.quality.ssl import nt_xent, views


def test_set_names_map_to_their_generator():
    assert kind_of("wgan") == "wgan" and kind_of("wgan-gp") == "wgan-gp" and kind_of("wgan-gp-resize") == "wgan-gp"
    assert kind_of("cwgan-gp1") == "cwgan" and kind_of("ddpm-fold3") == "ddpm" and kind_of("fake") is None


def test_scoring_set_draws_the_same_number_per_trained_class(smoke_cfg):
    from helpers.gan import pipeline
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    exported = pipeline.run("dcgan", smoke_cfg, train, steps=2, progress=False)
    assert "benign" not in set(pd.read_csv(exported)["class_name"])  # a balancing set: no largest class
    m = scoring_set(smoke_cfg, "dcgan", exported, 6, progress=False)
    df = pd.read_csv(m)
    assert df["class_name"].value_counts().to_dict() == {"normal": 6, "malignant": 6}  # benign: no model
    assert (m.parent / "trained_on.csv").read_text() == (exported.parent / "trained_on.csv").read_text()
    stamp = m.stat().st_mtime_ns
    assert scoring_set(smoke_cfg, "dcgan", exported, 6, progress=False) == m and m.stat().st_mtime_ns == stamp
    assert pd.read_csv(scoring_set(smoke_cfg, "dcgan", exported, 4, progress=False))["class_name"].value_counts().max() == 4
    other = smoke_cfg.runs_dir / "elsewhere.csv"  # a set without trained models behind it is scored as it is
    assert scoring_set(smoke_cfg, "fake", other, 6) == other


def test_simclr_views_and_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 32, 32, generator=g) * 2 - 1
    v = views(x, g)
    assert v.shape == x.shape and v.min() >= -1 and v.max() <= 1 and not torch.equal(v, x)
    z = torch.randn(8, 16, generator=g)
    same, other = nt_xent(z, z + 0.01 * torch.randn(8, 16, generator=g)), nt_xent(z, torch.randn(8, 16, generator=g))
    assert same < other  # two views of one image agree: low loss
    assert same > 0


def test_self_supervised_extractor_trains_and_is_cached(smoke_cfg):
    from helpers.prepare import load_prepared
    from helpers.quality.features import get_extractor

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    ext = get_extractor(smoke_cfg, records, kind="ssl", progress=False)
    x = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    f = ext(x)
    assert f.shape == (5, ext.dim) and np.isfinite(f).all()
    again = get_extractor(smoke_cfg, records, kind="ssl", progress=False)  # loaded from its run folder
    assert np.allclose(again(x), f)


def _table(gens, fid, tstr):
    rows = [dict(generator="real", class_name="all", fid=0.1, kid=0.0, precision=0.9, recall=0.9, memorised=0.01,
                 tstr=0.7)]
    rows += [dict(generator=g, class_name="all", fid=f, kid=f / 100, precision=0.5, recall=0.5, memorised=0.0, tstr=t)
             for g, f, t in zip(gens, fid, tstr)]
    return pd.DataFrame(rows)


def test_quality_against_usefulness_and_rank_agreement():
    gens = ["a", "b", "c", "d", "e"]
    table = _table(gens, [1, 2, 3, 4, 5], [0.6, 0.5, 0.4, 0.3, 0.2])
    grid = pd.DataFrame(dict(generator=gens, use=[0.10, 0.05, 0.0, -0.05, -0.10], use_lo=-0.1, use_hi=0.2))
    qu = U.quality_vs_usefulness(table, grid)
    assert (qu["use_source"] == "paired accuracy change (grid)").all()
    agree = U.agreement(qu, ["fid", "tstr", "precision"]).set_index("score")
    assert agree.loc["fid", "rho"] == pytest.approx(1.0)  # lower FID, more useful: +1 once oriented
    assert agree.loc["tstr", "rho"] == pytest.approx(1.0)
    assert np.isnan(agree.loc["precision", "rho"])  # a constant score predicts nothing
    no_grid = U.quality_vs_usefulness(table, pd.DataFrame(columns=["generator", "use", "use_lo", "use_hi"]))
    assert no_grid.loc["a", "use"] == pytest.approx(0.6 - 0.7)
    assert "tstr" not in set(U.agreement(no_grid)["score"])  # usefulness is TSTR itself: not a test
    # a sixth set without a grid cell gets TSTR minus real TSTR, but is not ranked against the grid's changes
    mixed = U.quality_vs_usefulness(_table(gens + ["f"], [1, 2, 3, 4, 5, 0.5], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]), grid)
    assert mixed.loc["f", "use_source"] == "TSTR minus real TSTR"
    m = U.agreement(mixed, ["fid"]).set_index("score")
    assert m.loc["fid", "n"] == 5 and m.loc["fid", "rho"] == pytest.approx(1.0)
    second = _table(gens, [5, 4, 3, 2, 1], [0] * 5)
    assert U.rankings(table, second).attrs["tau"] == pytest.approx(-1.0)


def test_usefulness_figure_never_plots_tstr_against_itself():
    """Without notebook 08's grid, usefulness is TSTR minus the real TSTR: the figure drops the
    TSTR panel and its axis and sentence say the grid is missing; with the grid, TSTR is a panel."""
    import matplotlib

    matplotlib.use("Agg")
    gens = ["a", "b", "c", "d", "e"]
    table = _table(gens, [1, 2, 3, 4, 5], [0.6, 0.5, 0.4, 0.3, 0.2])
    no_grid = U.quality_vs_usefulness(table, pd.DataFrame(columns=["generator", "use", "use_lo", "use_hi"]))
    fig = U.figure(no_grid, ["fid", "precision", "tstr"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["fid (lower = closer)", "precision"]
    assert "notebook 08 not run" in fig.axes[0].get_ylabel() and "notebook 08" in U.reading(no_grid)
    grid = pd.DataFrame(dict(generator=gens, use=[0.10, 0.05, 0.0, -0.05, -0.10], use_lo=-0.1, use_hi=0.2))
    with_grid = U.quality_vs_usefulness(table, grid)
    assert [ax.get_xlabel() for ax in U.figure(with_grid, ["fid", "tstr"]).axes] == ["fid (lower = closer)", "tstr"]
    assert "5 generator(s)" in U.reading(with_grid)



def test_a_scoring_set_reads_the_calls_it_shares_with_the_exported_set(smoke_cfg, monkeypatch):
    """The exported set's first call of each class is read from its files, the rest drawn: the
    same images as drawing every call; a set written before the batch was recorded (no `batch`
    column) lends nothing."""
    from helpers.gan import pipeline
    from helpers.gan.core import load_generator
    from helpers.prepare import load_prepared
    from helpers.quality import sampling
    from helpers.quality.report import load_set
    from helpers.synth import write_synthetic_set
    from helpers.train.loop import CHECKPOINT

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    pipeline.train("cwgan", smoke_cfg, train, steps=2, progress=False)
    ck = pipeline.run_dirs("cwgan", smoke_cfg)["all"] / CHECKPOINT
    G, classes = load_generator(ck.parent), list(smoke_cfg.classes)
    exported = write_synthetic_set(smoke_cfg.runs_dir / "synthetic" / "cwgan", "cwgan",
                                   lambda c, k, seed: sampling.sample_uint8(G, k, seed, classes.index(c)),
                                   dict.fromkeys(classes, 6), classes=classes, checkpoint=ck, seed=smoke_cfg.seed,
                                   batch=4, progress=False)  # calls of 4 and 2 images per class
    drawn, real_sample = [], sampling.sample_uint8
    monkeypatch.setattr(sampling, "sample_uint8", lambda G, k, seed, *a: drawn.append(k) or real_sample(G, k, seed, *a))
    monkeypatch.setattr(sampling, "BATCH", 4)
    reused = sampling.scoring_set(smoke_cfg, "cwgan", exported, 9, progress=False, out=smoke_cfg.runs_dir / "reused")
    assert sorted(drawn) == sorted([4, 1] * len(classes))  # 4 + 4 + 1 per class: the first 4 read
    pd.read_csv(exported).drop(columns="batch").to_csv(exported, index=False)  # as written before
    drawn.clear()
    fresh = sampling.scoring_set(smoke_cfg, "cwgan", exported, 9, progress=False, out=smoke_cfg.runs_dir / "fresh")
    assert sorted(drawn) == sorted([4, 4, 1] * len(classes))
    np.testing.assert_array_equal(load_set(reused, smoke_cfg.size)[1], load_set(fresh, smoke_cfg.size)[1])
