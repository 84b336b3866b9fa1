"""A classifier run resumes exactly: interrupted after some epochs (or in the middle of one),
the same call gives the same predictions as an uninterrupted run; its checkpoint is written
atomically, a damaged one is not fatal, a foreign one is refused in one line."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from helpers.classify import grid, settings
from helpers.classify.data import plain
from helpers.classify.presets import PRESETS
from helpers.errors import CheckpointError
from helpers.prepare import load_prepared

EPOCHS = 4


@pytest.fixture
def records(smoke_cfg):
    return plain(load_prepared(smoke_cfg, progress=False, verbose=False))


def _train(cfg, records, folder):
    preset = PRESETS["smoke"].with_(epochs=EPOCHS, bs=8)  # a few batches per epoch
    setting = settings.Setting.parse("real+trad", "busi_study")  # augmented: random draws every batch
    return grid.train_run(cfg, "tiny", setting, 0, 0, records, preset, folder, None)


def _interrupt_at(monkeypatch, epoch: int, batch: int):
    """The next fit raises KeyboardInterrupt in epoch `epoch` (0-based) after batch `batch`."""
    from fastai.callback.core import Callback
    from fastai.learner import Learner

    orig = Learner.fit

    class CtrlC(Callback):
        order = 99

        def after_batch(self):
            if self.training and self.epoch == epoch and self.iter == batch:
                raise KeyboardInterrupt

    def fit(self, *a, cbs=None, **kw):
        monkeypatch.setattr(Learner, "fit", orig)  # once
        return orig(self, *a, cbs=list(cbs or []) + [CtrlC()], **kw)

    monkeypatch.setattr(Learner, "fit", fit)


def _interrupted(cfg, records, folder, monkeypatch, epoch=2, batch=1):
    _interrupt_at(monkeypatch, epoch, batch)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, records, folder)
    assert (folder / "checkpoint.pth").exists() and not (folder / "preds.csv").exists()


@pytest.fixture
def uninterrupted(smoke_cfg, records, tmp_path):
    _train(smoke_cfg, records, tmp_path / "whole")
    return pd.read_csv(tmp_path / "whole" / "preds.csv"), pd.read_csv(tmp_path / "whole" / "history.csv")


@pytest.mark.parametrize("epoch,batch", [(2, 1), (1, 0)])
def test_a_resumed_run_predicts_as_the_uninterrupted_one(smoke_cfg, records, tmp_path, monkeypatch, uninterrupted,
                                                         epoch, batch):
    folder = tmp_path / "cut"
    _interrupted(smoke_cfg, records, folder, monkeypatch, epoch, batch)
    _train(smoke_cfg, records, folder)
    preds, hist = uninterrupted
    pd.testing.assert_frame_equal(pd.read_csv(folder / "preds.csv"), preds, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(folder / "history.csv"), hist, check_exact=True)
    assert not list(folder.glob("checkpoint*")) and not list(folder.glob(".checkpoint*"))


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_epoch(smoke_cfg, records, tmp_path, monkeypatch, capsys,
                                                                uninterrupted, damage):
    folder = tmp_path / "cut"
    _interrupted(smoke_cfg, records, folder, monkeypatch)
    ck = folder / "checkpoint.pth"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2] if damage == "truncate" else b"")
    capsys.readouterr()
    _train(smoke_cfg, records, folder)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "checkpoint.pth" in out[0] and "epoch 1" in out[0], out
    pd.testing.assert_frame_equal(pd.read_csv(folder / "preds.csv"), uninterrupted[0], check_exact=True)


def test_a_damaged_checkpoint_without_an_earlier_one_trains_from_the_start(smoke_cfg, records, tmp_path, monkeypatch,
                                                                           capsys, uninterrupted):
    folder = tmp_path / "cut"
    _interrupted(smoke_cfg, records, folder, monkeypatch)
    (folder / "checkpoint.pth.prev").unlink(missing_ok=True)
    ck = folder / "checkpoint.pth"
    ck.write_bytes(ck.read_bytes()[:100])
    capsys.readouterr()
    _train(smoke_cfg, records, folder)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "checkpoint.pth" in out[0] and "from the start" in out[0], out
    pd.testing.assert_frame_equal(pd.read_csv(folder / "preds.csv"), uninterrupted[0], check_exact=True)


class _Evil:
    def __reduce__(self):
        return (print, ("code from the checkpoint ran",))


def test_a_crafted_checkpoint_is_refused_in_one_line(smoke_cfg, records, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "cut"
    _interrupted(smoke_cfg, records, folder, monkeypatch)
    ck = folder / "checkpoint.pth"
    ck.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError) as e:
        _train(smoke_cfg, records, folder)
    msg = str(e.value)
    assert "\n" not in msg and str(ck) in msg and "Delete" in msg and "weights_only" not in msg, msg
    assert "code from the checkpoint ran" not in capsys.readouterr().out


@pytest.mark.parametrize("error", [RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 0"),
                                   OSError(28, "No space left on device")])
def test_a_checkpoint_that_cannot_be_written_is_one_line_and_the_rerun_resumes(smoke_cfg, records, tmp_path,
                                                                               monkeypatch, uninterrupted, error):
    import torch

    from helpers.train import checkpoint

    folder, real_save, calls = tmp_path / "cut", torch.save, []

    def full_disk(obj, f, *a, **kw):
        calls.append(f)
        if len(calls) == 3:  # the third epoch's checkpoint
            raise error
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(CheckpointError) as e:
        _train(smoke_cfg, records, folder)
    msg = str(e.value)
    assert "\n" not in msg and str(folder / "checkpoint.pth") in msg and "run the same command again" in msg, msg
    assert "after epoch 2" in msg and "enforce" not in msg, msg
    assert not list(folder.glob(".checkpoint*")), "no temporary file left behind"
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    _train(smoke_cfg, records, folder)
    pd.testing.assert_frame_equal(pd.read_csv(folder / "preds.csv"), uninterrupted[0], check_exact=True)


def test_the_command_refuses_a_crafted_checkpoint_in_one_line(smoke_cfg, capsys, recwarn):
    from helpers.cli import main

    folder = grid.run_dir(grid.classify_dir(smoke_cfg), settings.run_id("tiny", "real+trad", 0, 0))
    folder.mkdir(parents=True)
    (folder / "checkpoint.pth").write_bytes(pickle.dumps(_Evil()))
    capsys.readouterr()
    assert main(["classify", "--profile", "smoke", "--generators", "none", "--settings", "real+trad", "--folds", "0",
                 "--data-dir", str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir)]) == 2
    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{folder / 'checkpoint.pth'}" in errors[0] and "Delete" in errors[0], out.err
    assert "Traceback" not in out.err and "weights_only" not in out.err + out.out
    assert "code from the checkpoint ran" not in out.out
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]
