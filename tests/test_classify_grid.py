"""The grid: settings, resume without redoing cells, per-fold synthetic sets, the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import helpers.classify.grid as G
from helpers.classify.data import plain
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
    s = G.Setting.parse("real+trad+syn:cwgan", "mild")
    assert (s.augment, s.generator, s.per_class) == ("mild", "cwgan", None)
    assert G.Setting.parse("real+syn:ddpm@125").per_class == 125
    assert G.Setting.parse("real+syn:ddpm@0") == G.Setting.parse("real")  # n = 0 is the real-only cell
    assert [s.name for s in G.four_settings(["a"])] == ["real", "real+trad", "real+syn:a", "real+trad+syn:a"]
    with pytest.raises(ValueError, match="Unknown data setting"):
        G.Setting.parse("synthetic-only")


def test_grid_resumes_without_redoing_cells(smoke_cfg, records, monkeypatch):
    for k in (0, 1):
        _fake_set(smoke_cfg.runs_dir, f"fake-fold{k}", records[records.fold != k]["path"])
    calls = []
    real_train = G.train_cell

    def counting(*a, **kw):
        calls.append(a[1:5])
        return real_train(*a, **kw)

    monkeypatch.setattr(G, "train_cell", counting)
    settings = [G.Setting.parse(s, "mild") for s in ("real", "real+syn:fake", "real+syn:fake@2", "real+syn:fake@0")]
    cells = G.plan(records, ["tiny"], settings, folds=[0, 1])
    assert len(cells) == 6  # "@0" is the real-only cell
    first = G.run_grid(smoke_cfg, records, cells[:4], progress=False)
    assert len(calls) == 4 and len(first) == 4
    res = G.run_grid(smoke_cfg, records, cells, progress=False)
    assert len(calls) == 6, "finished cells were trained again"
    assert len(res) == 6 and res["cell"].is_unique
    G.run_grid(smoke_cfg, records, cells, progress=False)
    assert len(calls) == 6
    # what each cell trained on is recorded; synthetic images never counted as test images
    by = res.set_index("cell")
    assert by.loc["tiny|real+syn:fake|fold0|seed0", "n_train_synth"] == 9
    assert by.loc["tiny|real+syn:fake@2|fold0|seed0", "n_train_synth"] == 6
    assert (res["n_test"] + res["n_train_real"] == len(records)).all()
    assert ((res["accuracy_lo"] <= res["accuracy"]) & (res["accuracy"] <= res["accuracy_hi"])).all()
    preds = G.load_predictions(G.classify_dir(smoke_cfg), res)
    assert set(preds["path"]) == set(records[records.fold.isin([0, 1])]["path"])
    assert not preds["path"].str.contains("synthetic").any()
    classes = ["benign", "normal", "malignant"]
    pooled = G.pooled_table(preds, classes, n_boot=100)
    assert len(pooled) == 3 and (pooled["n_folds"] == 2).all()
    paired = G.paired_table(preds, classes, n_boot=100)
    assert set(paired["setting"]) == {"real+syn:fake", "real+syn:fake@2"}
    hist = pd.read_csv(G.classify_dir(smoke_cfg) / "cells" / G.cell_dirname(G.cell_id("tiny", "real", 0, 0))
                       / "history.csv")
    assert list(hist.columns) == ["epoch", "train_loss", "valid_loss", "accuracy"] and len(hist) == 1


def test_cell_resumes_from_its_last_epoch(smoke_cfg, records, tmp_path, monkeypatch):
    preset = dict(G.PRESETS["smoke"], epochs=2)
    setting = G.Setting.parse("real")
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
    cell = tmp_path / "cell"
    with pytest.raises(KeyboardInterrupt):
        G.train_cell(smoke_cfg, "tiny", setting, 0, 0, records, preset, cell, None)
    assert (cell / "checkpoint.pth").exists()
    row = G.train_cell(smoke_cfg, "tiny", setting, 0, 0, records, preset, cell, None)
    assert fits == [0, 1], "the second run should start at epoch 1"
    hist = pd.read_csv(cell / "history.csv")
    assert hist["epoch"].tolist() == [1, 2] and row["epochs"] == 2
    assert not (cell / "checkpoint.pth").exists()


def test_fold_synthetic_reuses_only_a_set_trained_on_that_fold(smoke_cfg, records, monkeypatch):
    train = records[records.fold != 0]
    m = _fake_set(smoke_cfg.runs_dir, "fake-fold0", train["path"])
    assert G.fold_synthetic(smoke_cfg, "fake", 0, train) == m
    trained = []
    import helpers.generators as gens

    monkeypatch.setattr(gens, "train_and_export", lambda name, cfg, train_records, out_name, steps, progress:
                        trained.append((name, out_name, len(train_records))) or m)
    _fake_set(smoke_cfg.runs_dir, "fake-fold1", records["path"])  # saw fold 1's test images: not reused
    G.fold_synthetic(smoke_cfg, "fake", 1, records[records.fold != 1])
    assert trained == [("fake", "fake-fold1", int((records.fold != 1).sum()))]


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
    assert "4 of 4 cells already" in capsys.readouterr().out
    # the split instead of folds: the generator notebooks' set (trained on the train part) is reused
    _fake_set(smoke_cfg.runs_dir, "fake", records[records.split == "train"]["path"])
    assert main(args[:-4] + ["--folds", "split", "--settings", "real,real+syn:fake", "--threads", "1"]) == 0
    res = pd.read_csv(smoke_cfg.runs_dir / "classify" / "results.csv")
    split = res[res["cell"].str.contains("|split|", regex=False)]
    assert len(split) == 2 and (split["n_test"] == (records.split == "test").sum()).all()
    assert split["manifest"].str.endswith("synthetic/fake/manifest.csv").any()
