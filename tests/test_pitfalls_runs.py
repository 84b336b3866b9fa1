"""Notebook 09's trainings: guarded, cached runs, and the `pitfalls` command end to end (smoke)."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.classify import engine
from helpers.classify.data import plain
from helpers.classify.protocol import ProtocolError
from helpers.pitfalls import experiments, runs, splits
from helpers.pitfalls.presets import preset as budget
from helpers.prepare import load_prepared


@pytest.fixture
def loaded(smoke_cfg):
    return experiments.load(smoke_cfg, progress=False)


def _random_protocol(records, thumbs):
    protos, _ = splits.near_duplicate_protocols(records, thumbs, 3, 0, (0.97,))
    return {p.name: p for p in protos}


def test_a_run_checks_every_view_and_reports_the_named_shortcut(smoke_cfg, loaded, monkeypatch):
    records, thumbs, bank = loaded
    protos = _random_protocol(records, thumbs)
    rnd = protos["random split"]
    if rnd.leak is None or not (splits.nearest_in_training(rnd.fold, thumbs) > 0.97).any():
        pytest.skip("this random split left no twin on both sides")
    job = experiments.fold_jobs(records, rnd)
    pre = budget("smoke")
    leaky_jobs = [j for j in job if j.views[0].records["group"].isin(j.train["group"]).any()]
    assert leaky_jobs, "some fold of a random split shares a group with its training part"
    j = leaky_jobs[0]
    honest_view = runs.Job(j.train, [runs.View("pretending", j.views[0].records)], all_records=j.all_records)
    with pytest.raises(ProtocolError):
        runs.run_one(smoke_cfg, pre, honest_view, bank)
    calls = []
    real = runs.fit_predict
    monkeypatch.setattr(runs, "fit_predict", lambda *a, **k: calls.append(1) or real(*a, **k))
    preds = runs.run_one(smoke_cfg, pre, j, bank)
    assert set(preds["guard"]) == {"leaky:random-split"} and "same-group" in preds["violations"].iloc[0]
    assert {"p_benign", "pred", "correct", "fold", "repeat", "seed", "image"} <= set(preds.columns)
    assert len(preds) == len(j.views[0].records)
    again = runs.run_one(smoke_cfg, pre, j, bank)  # cached: not trained again
    assert len(calls) == 1 and again["correct"].tolist() == preds["correct"].tolist()


def test_one_model_scored_under_two_views_and_kept_for_saliency(smoke_cfg, loaded):
    records, thumbs, bank = loaded
    honest = _random_protocol(records, thumbs)["grouped@0.97"]
    job = experiments.fold_jobs(records, honest, keep_model_fold=0)[0]
    job.views.append(runs.View("same images again", job.views[0].records))
    preds = runs.run_one(smoke_cfg, budget("smoke"), job, bank)
    a, b = (preds[preds["view"] == v] for v in ("grouped@0.97", "same images again"))
    assert a["pred"].tolist() == b["pred"].tolist() and set(preds["guard"]) == {"honest"}
    model = runs.load_model(smoke_cfg, budget("smoke"), job)
    assert not model.training


def test_image_bank_decodes_once_and_returns_in_any_order(smoke_cfg):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    bank = runs.ImageBank(smoke_cfg.size, smoke_cfg.cache_dir)
    bank.add(records.iloc[:10])
    bank.add(records.iloc[5:20])
    x = bank.get(records["path"].iloc[[12, 3, 12]])
    assert x.shape == (3, smoke_cfg.size, smoke_cfg.size) and (x[0] == x[2]).all()
    assert len(bank.index) == 20


def test_the_pitfalls_command_writes_the_closing_table(smoke_cfg, capsys):
    from helpers.cli import main

    rc = main(["pitfalls", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
               str(smoke_cfg.runs_dir), "--threads", "1"])
    assert rc == 0
    table = pd.read_csv(smoke_cfg.runs_dir / "pitfalls" / "closing_table.csv")
    guards = set(table["guard"])
    assert {"leaky:random-split", "leaky:generator-saw-test", "leaky:synthetic-in-test", "honest"} <= guards
    assert table["published study that used it"].str.contains("DDPM study").any()
    for name in ("09_thresholds", "09_inflation", "09_single_splits", "09_gradcam"):
        assert (smoke_cfg.runs_dir / "figures" / f"{name}.png").exists()
    out = capsys.readouterr().out
    assert "inflation" in out and "Grad-CAM" in out
    assert main(["pitfalls", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
                 str(smoke_cfg.runs_dir), "--arch", "nonet"]) == 2


@pytest.mark.busi
def test_busi_grouped_split_passes_the_content_guard_and_a_random_split_does_not(busi_dir, tmp_path):
    """On the real images: the prepared (grouped) split holds no near-twin across its parts;
    a random split does, and the guard says so by content even with the group ids hidden."""
    from helpers.classify.protocol import check_evaluation
    from helpers.config import resolve

    cfg = resolve("quick", "busi", busi_dir, tmp_path / "runs", seed=0)
    records, thumbs, _ = experiments.load(cfg, progress=False)
    test, train = records[records["split"] == "test"], records[records["split"] != "test"]
    assert check_evaluation(test, train) == []
    fold = splits.random_folds(records, 5, 0)
    hidden = records.assign(fold=fold, group=range(len(records)))
    with pytest.raises(ProtocolError, match="near-duplicate in training"):
        check_evaluation(hidden[hidden.fold == 0], hidden[hidden.fold != 0])
    found = check_evaluation(hidden[hidden.fold == 0], hidden[hidden.fold != 0], leak="random-split")
    assert any(v.rule == "near-twin" and v.count > 0 for v in found)


def test_twins_made_by_masking_regroup_both_arms_of_the_overlay_comparison(smoke_cfg, loaded, monkeypatch):
    """If painting out the overlays makes two images of different folds near-duplicates, the
    guard would refuse the masked arm; both arms then use folds grouped by either version's twins."""
    import shutil

    from helpers.pitfalls import overlays as O

    records, thumbs, bank = loaded
    honest = splits.repeated(records, thumbs, 3, smoke_cfg.seed, 1)[0]
    fold, group = honest.fold.to_numpy(), honest.group.to_numpy()
    i = int(next(k for k in range(len(records)) if fold[k] == 0))
    j = int(next(k for k in range(len(records)) if fold[k] == 1 and group[k] != group[i]
                 and records["label"].iloc[k] == records["label"].iloc[i]))
    real = O.masked_dataset

    def twin_making(recs, out_dir, progress=True, **kw):
        out = real(recs, out_dir, progress, **kw)
        shutil.copy(out["path"].iloc[i], out["path"].iloc[j])  # masked j is now masked i
        return out

    monkeypatch.setattr(O, "masked_dataset", twin_making)
    ov = experiments.overlays(smoke_cfg, budget("smoke"), records, thumbs, bank, progress=False)
    assert "either version" in ov["protocol"].name and len(ov["new_twins"]) >= 1
    f = ov["protocol"].fold.to_numpy()
    assert f[i] == f[j]
    assert set(ov["as_is"]["image"]) == set(ov["masked"]["image"]) == set(records["path"].astype(str))
    sal = experiments.saliency(smoke_cfg, budget("smoke"), records, ov, n=4)
    assert sal["as is"]["maps"].shape == sal["masked"]["maps"].shape


def test_skip_saw_test_keeps_the_synthetic_in_test_protocol_without_a_second_generator(smoke_cfg):
    from helpers.cli import main

    runs = smoke_cfg.runs_dir.parent / "skip-saw-test"
    rc = main(["pitfalls", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir", str(runs),
               "--threads", "1", "--skip", "overlays", "repeats", "saw-test"])
    assert rc == 0
    guards = set(pd.read_csv(runs / "pitfalls" / "closing_table.csv")["guard"])
    assert "leaky:synthetic-in-test" in guards and "leaky:generator-saw-test" not in guards
    assert not list((runs / "generators").glob("*-saw-test"))


def test_runs_in_two_processes_give_the_numbers_of_one_process(smoke_cfg, loaded, monkeypatch):
    """The quick profile trains runs side by side in processes; one thread per run either
    way, so the predictions (and a kept model) are the same as in this process."""
    import shutil

    import torch

    records, thumbs, bank = loaded
    honest = _random_protocol(records, thumbs)["grouped@0.97"]
    jobs = experiments.fold_jobs(records, honest, keep_model_fold=0)
    one = runs.run_jobs(smoke_cfg, budget("smoke", workers=1), jobs, bank, progress=False)
    w0 = runs.load_model(smoke_cfg, budget("smoke"), jobs[0]).state_dict()
    shutil.rmtree(runs.runs_dir(smoke_cfg))
    two = runs.run_jobs(smoke_cfg, budget("smoke", workers=2), jobs, bank, progress=False)
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))
    w1 = runs.load_model(smoke_cfg, budget("smoke"), jobs[0]).state_dict()
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # the guard runs here, before any process trains: a view that hides its shortcut stops it all
    shutil.rmtree(runs.runs_dir(smoke_cfg))
    j = jobs[1]
    hidden = runs.Job(j.train, [runs.View("test", jobs[0].train.head(3))], all_records=j.all_records)
    started = []
    monkeypatch.setattr(runs, "_train_in_processes", lambda *a, **k: started.append(1) or {})
    with pytest.raises(ProtocolError):
        runs.run_jobs(smoke_cfg, budget("smoke", workers=2), [jobs[0], hidden], bank, progress=False)
    assert not started


def test_the_pitfalls_use_the_grid_s_engine_and_keep_earlier_runs(smoke_cfg, loaded, monkeypatch):
    """A protocol's run is the classifier engine's training (random weights, no augmentation,
    the preset's budget), and the runs cached under an earlier version's cells/ folder are
    read back, not trained again."""
    records, thumbs, bank = loaded
    job = experiments.fold_jobs(records, _random_protocol(records, thumbs)["grouped@0.97"])[0]
    pre = budget("smoke")
    recipes = []
    real = engine.fit_predict
    monkeypatch.setattr(runs, "fit_predict", lambda cfg, recipe, *a, **k: recipes.append(recipe) or real(cfg, recipe, *a, **k))
    first = runs.run_one(smoke_cfg, pre, job, bank)
    assert recipes == [engine.Recipe(pre.arch, pre.epochs, pre.lr, pre.bs, "none", False, True)]
    stage = smoke_cfg.stage_dir("pitfalls")
    (stage / "runs").rename(stage / "cells")
    again = runs.run_one(smoke_cfg, pre, job, bank)
    assert len(recipes) == 1 and again["pred"].tolist() == first["pred"].tolist()
    assert (stage / "runs").is_dir() and not (stage / "cells").exists()
