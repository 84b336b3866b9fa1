"""The grid: settings, resume without redoing runs, per-fold synthetic sets, the results store, the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.classify import grid, settings, studies, synthetic
from helpers.classify.data import plain
from helpers.classify.grid import (
    classify_dir,
    load_predictions,
    paired_table,
    pooled_table,
    run_grid,
)
from helpers.classify.presets import PRESETS
from helpers.prepare import load_prepared
from helpers.synth import synthetic_dir, write_synthetic_set


@pytest.fixture
def records(smoke_cfg):
    return plain(load_prepared(smoke_cfg, progress=False, verbose=False))


def _fake_set(runs_dir, name, trained_on, n=3):
    def sample(cls, k, seed):
        return np.random.default_rng(seed).integers(0, 256, size=(k, 32, 32), dtype=np.uint8)

    return write_synthetic_set(synthetic_dir(runs_dir, name), name.split("-fold")[0], sample,
                               {"benign": n, "normal": n, "malignant": n}, dataset="phantom", progress=False,
                               trained_on=list(trained_on))


def test_settings_parse():
    s = settings.Setting.parse("real+trad+syn:cwgan", "mild")
    assert (s.augment, s.generator, s.per_class) == ("mild", "cwgan", None)
    assert settings.Setting.parse("real+syn:ddpm@125").per_class == 125
    assert settings.Setting.parse("real+syn:ddpm@0") == settings.Setting.parse("real")  # n = 0 is the real-only run
    # a generator no study used gets the BUSI study's four columns
    assert [s.name for s in studies.settings_for(["a"])] == ["real", "real+trad", "real+syn:a", "real+trad+syn:a"]
    with pytest.raises(ValueError, match="Unknown data setting"):
        settings.Setting.parse("synthetic-only")


def test_grid_resumes_without_redoing_runs(smoke_cfg, records, monkeypatch):
    for k in (0, 1):
        _fake_set(smoke_cfg.runs_dir, f"fake-fold{k}", records[records.fold != k]["path"])
    calls = []
    real_train = grid.train_run

    def counting(*a, **kw):
        calls.append(a[1:5])
        return real_train(*a, **kw)

    monkeypatch.setattr(grid, "train_run", counting)
    chosen = [settings.Setting.parse(s, "mild") for s in ("real", "real+syn:fake", "real+syn:fake@2", "real+syn:fake@0")]
    runs = settings.plan(records, ["tiny"], chosen, folds=[0, 1])
    assert len(runs) == 6  # "@0" is the real-only run
    first = run_grid(smoke_cfg, records, runs[:4], progress=False)
    assert len(calls) == 4 and len(first) == 4
    res = run_grid(smoke_cfg, records, runs, progress=False)
    assert len(calls) == 6, "finished runs were trained again"
    assert len(res) == 6 and res["run"].is_unique
    run_grid(smoke_cfg, records, runs, progress=False)
    assert len(calls) == 6
    # what each run trained on is recorded; synthetic images never counted as test images
    by = res.set_index("run")
    assert by.loc["tiny|real+syn:fake|fold0|seed0", "n_train_synth"] == 9
    assert by.loc["tiny|real+syn:fake@2|fold0|seed0", "n_train_synth"] == 6
    assert (res["n_test"] + res["n_train_real"] == len(records)).all()
    assert ((res["accuracy_lo"] <= res["accuracy"]) & (res["accuracy"] <= res["accuracy_hi"])).all()
    preds = load_predictions(classify_dir(smoke_cfg), res)
    assert set(preds["path"]) == set(records[records.fold.isin([0, 1])]["path"])
    assert not preds["path"].str.contains("synthetic").any()
    classes = ["benign", "normal", "malignant"]
    pooled = pooled_table(preds, classes, n_boot=100)
    assert len(pooled) == 3 and (pooled["n_folds"] == 2).all()
    paired = paired_table(preds, classes, n_boot=100)
    assert set(paired["setting"]) == {"real+syn:fake", "real+syn:fake@2"}
    hist = pd.read_csv(grid.run_dir(classify_dir(smoke_cfg), settings.run_id("tiny", "real", 0, 0)) / "history.csv")
    assert list(hist.columns) == ["epoch", "train_loss", "valid_loss", "accuracy"] and len(hist) == 1
    # notebook 07 reads the grid's paired change of each generator from the same store
    from helpers.quality.usefulness import grid_usefulness

    use = grid_usefulness(smoke_cfg, ["fake"], "tiny")
    assert use["generator"].tolist() == ["fake"] and use["use_lo"].iloc[0] <= use["use"].iloc[0] <= use["use_hi"].iloc[0]


def test_a_run_resumes_from_its_last_epoch(smoke_cfg, records, tmp_path, monkeypatch):
    preset = PRESETS["smoke"].with_(epochs=2)
    setting = settings.Setting.parse("real")
    from fastai.learner import Learner

    fits = []
    orig = Learner.fit

    def crash_after_first_epoch(self, n_epoch, *a, start_epoch=0, **kw):
        fits.append(start_epoch)
        if len(fits) == 1:
            class Stop(Exception):
                pass
            from fastai.callback.core import Callback

            class Crash(Callback):
                order = 99

                def after_epoch(self):
                    raise Stop("simulated crash")

            with pytest.raises(Stop):
                orig(self, n_epoch, *a, start_epoch=start_epoch, cbs=list(kw.pop("cbs", [])) + [Crash()], **kw)
            raise KeyboardInterrupt
        return orig(self, n_epoch, *a, start_epoch=start_epoch, **kw)

    monkeypatch.setattr(Learner, "fit", crash_after_first_epoch)
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        grid.train_run(smoke_cfg, "tiny", setting, 0, 0, records, preset, folder, None)
    assert (folder / "checkpoint.pth").exists()
    row = grid.train_run(smoke_cfg, "tiny", setting, 0, 0, records, preset, folder, None)
    assert fits == [0, 1], "the second run should start at epoch 1"
    hist = pd.read_csv(folder / "history.csv")
    assert hist["epoch"].tolist() == [1, 2] and row["epochs"] == 2
    assert not (folder / "checkpoint.pth").exists()


def test_fold_synthetic_reuses_only_a_set_trained_on_that_fold(smoke_cfg, records, monkeypatch):
    """A course generator's set trained on other images is trained again (`dcgan`: one the course trains)."""
    train = records[records.fold != 0]
    m = _fake_set(smoke_cfg.runs_dir, "dcgan-fold0", train["path"])
    assert synthetic.fold_synthetic(smoke_cfg, "dcgan", 0, train) == m
    trained = []
    monkeypatch.setattr(synthetic, "train_and_export", lambda name, cfg, train_records, out_name, steps, progress:
                        trained.append((name, out_name, len(train_records))) or m)
    _fake_set(smoke_cfg.runs_dir, "dcgan-fold1", records["path"])  # saw fold 1's test images: not reused
    synthetic.fold_synthetic(smoke_cfg, "dcgan", 1, records[records.fold != 1])
    assert trained == [("dcgan", "dcgan-fold1", int((records.fold != 1).sum()))]


def test_classify_command_on_smoke(smoke_cfg, records, capsys):
    from helpers.cli import main

    _fake_set(smoke_cfg.runs_dir, "fake-fold0", records[records.fold != 0]["path"])
    args = ["classify", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(smoke_cfg.data_dir),
            "--runs-dir", str(smoke_cfg.runs_dir), "--generators", "fake", "--folds", "0", "--threads", "1"]
    assert main(args) == 0
    res = pd.read_csv(smoke_cfg.runs_dir / "classify" / "results.csv")
    assert sorted(res["setting"]) == sorted(["real", "real+trad", "real+syn:fake", "real+trad+syn:fake"])
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 0
    assert "4 of 4 runs already" in capsys.readouterr().out
    # the split instead of folds: the generator notebooks' set (trained on the train part) is reused
    _fake_set(smoke_cfg.runs_dir, "fake", records[records.split == "train"]["path"])
    assert main(args[:-4] + ["--folds", "split", "--settings", "real,real+syn:fake", "--threads", "1"]) == 0
    res = pd.read_csv(smoke_cfg.runs_dir / "classify" / "results.csv")
    split = res[res["run"].str.contains("|split|", regex=False)]
    assert len(split) == 2 and (split["n_test"] == (records.split == "test").sum()).all()
    assert split["manifest"].str.endswith("synthetic/fake/manifest.csv").any()


def test_results_of_an_earlier_version_are_kept(smoke_cfg, records, capsys):
    """A run used to be called a cell: a results.csv with a `cell` column and a cells/ folder
    are read back as runs (nothing trained again), and the next row is written as `run`."""
    runs = settings.plan(records, ["tiny"], [settings.Setting.parse("real")], folds=[0, 1])
    out = classify_dir(smoke_cfg)
    run_grid(smoke_cfg, records, runs[:1], progress=False)
    grid.read_results(out).rename(columns={"run": "cell"}).to_csv(out / grid.RESULTS, index=False)
    (out / "runs").rename(out / "cells")
    res = run_grid(smoke_cfg, records, runs, progress=False)
    assert "1 of 2 runs already" in capsys.readouterr().out
    assert list(pd.read_csv(out / grid.RESULTS).columns)[0] == "run" and len(res) == 2
    assert not (out / "cells").exists()
    assert len(load_predictions(out, res)) == records.fold.isin([0, 1]).sum()


def test_the_results_store_takes_turns_between_processes(tmp_path):
    """Rows appended by several processes at once all arrive: the file lock makes them wait."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=store_rows, args=(str(tmp_path), k)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(grid.finished(tmp_path)) == sorted(f"p{k}-{i}" for k in range(3) for i in range(20))


def store_rows(folder, k):
    for i in range(20):
        grid.append_result(folder, f"p{k}-{i}", dict(accuracy=i / 20))


def test_two_grids_in_one_runs_folder_train_and_count_each_run_once(tmp_path):
    """Two `classify` at once in one runs folder: each run is trained once and has one row
    (the second grid waits for a run the first is training, then skips it)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=slow_grid, args=(str(tmp_path), k)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    trained = (tmp_path / "trained.txt").read_text().split()
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 4
    res = pd.read_csv(tmp_path / "classify" / grid.RESULTS)
    assert sorted(res["run"]) == sorted(trained)


def slow_grid(folder, k):
    """A grid of 4 runs whose training takes a moment; it starts once both grids have started."""
    import time
    from pathlib import Path
    from types import SimpleNamespace

    folder = Path(folder)
    (folder / f"started{k}").touch()

    def train(cfg, arch, setting, fold, seed, *args, **kw):
        while not all((folder / f"started{j}").exists() for j in range(2)):
            time.sleep(0.05)
        with open(folder / "trained.txt", "a") as f:
            f.write(settings.run_id(arch, setting.name, fold, seed) + "\n")
        time.sleep(0.3)
        return dict(arch=arch, setting=setting.name, fold=fold, seed=seed, accuracy=0.5)

    grid.train_run = train
    runs = [("tiny", settings.Setting.parse(s), f, 0) for f in (0, 1) for s in ("real", "real+trad")]
    run_grid(SimpleNamespace(device="cpu", profile="smoke"), None, runs, PRESETS["smoke"], progress=False,
             out_dir=folder / "classify")


def test_the_results_store_keeps_one_row_per_run(tmp_path, monkeypatch):
    """A run listed twice trains once; a row written again replaces the old one; a file with a
    run repeated (an earlier version's) is read as one row per run."""
    from types import SimpleNamespace

    calls = []
    monkeypatch.setattr(grid, "train_run", lambda cfg, arch, setting, fold, seed, *a, **kw: calls.append(fold)
                        or dict(arch=arch, setting=setting.name, fold=fold, seed=seed, accuracy=0.5))
    real = settings.Setting.parse("real")
    res = run_grid(SimpleNamespace(device="cpu", profile="smoke"), None, [("tiny", real, 0, 0)] * 2 + [("tiny", real, 1, 0)],
                   PRESETS["smoke"], progress=False, out_dir=tmp_path)
    assert calls == [0, 1] and len(res) == 2
    grid.append_result(tmp_path, "tiny|real|fold0|seed0", dict(accuracy=0.75))
    rows = pd.read_csv(tmp_path / grid.RESULTS)
    assert len(rows) == 2 and rows.set_index("run").loc["tiny|real|fold0|seed0", "accuracy"] == 0.75
    pd.concat([rows, rows]).to_csv(tmp_path / grid.RESULTS, index=False)
    assert len(grid.read_results(tmp_path)) == 2


def test_a_synthetic_set_the_course_cannot_train_is_checked_before_anything_trains(smoke_cfg, records, capsys):
    """A set named `evil` (not a course generator) passes only where it exists for every fold,
    and one trained on the wrong images is refused, not retrained as an 'Unknown generator'."""
    from helpers.cli import main

    _fake_set(smoke_cfg.runs_dir, "evil", records[records.split == "train"]["path"])
    args = ["classify", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
            str(smoke_cfg.runs_dir), "--generators", "evil", "--threads", "1"]
    assert main(args + ["--folds", "0"]) == 2
    err = capsys.readouterr().err
    assert "generator 'evil' is not one the course trains" in err and "no set 'evil-fold0' for fold 0" in err, err
    assert not (classify_dir(smoke_cfg) / grid.RESULTS).exists()
    _fake_set(smoke_cfg.runs_dir, "evil-fold0", records["path"])  # trained on fold 0's test images too
    assert main(args + ["--folds", "0", "--settings", "real+syn:evil"]) == 2
    err = capsys.readouterr().err
    assert "evil-fold0 was not trained on fold 0's training part only" in err and "Unknown generator" not in err, err
