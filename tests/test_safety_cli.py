"""Every user error on the command line is one line and exit status 2, never a traceback."""

from __future__ import annotations

import os

import pytest

from helpers.cli import main
from helpers.errors import SettingError


def _run(args, capsys):
    try:
        rc = main(args)
    except SystemExit as e:  # argparse refuses malformed options itself, with status 2
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def _common(cfg):
    return ["--profile", "smoke", "--data-dir", str(cfg.data_dir), "--runs-dir", str(cfg.runs_dir)]


@pytest.mark.parametrize("args,message", [
    (["prepare", "--size", "0"], "power of two from 16 to 1024 px"),
    (["prepare", "--size", "50"], "power of two from 16 to 1024 px, got 50"),
    (["prepare", "--size", "big"], "wants a whole number of pixels"),
    (["train", "wgan", "--size", "16"], "the GANs are built for 32, 64, 128, 256, 512 px"),
    (["train", "ddpm", "--size", "16", "--set", "mults=1,2,4,8"], "--size must be at least 32"),
    (["train", "wgan", "--set", "lr_g=fast"], "lr_g wants a number > 0; got 'fast'"),
    (["train", "wgan", "--set", "batch=0"], "batch wants a whole number >= 1; got '0'"),
    (["train", "wgan", "--set", "n_critic=2.5"], "n_critic wants a whole number"),
    (["train", "wgan", "--set", "optimizer=sgd"], "optimizer wants one of adam, rmsprop"),
    (["train", "ddpm", "--set", "objective=x0"], "objective wants one of eps, v"),
    (["train", "ddpm", "--set", "ddim_steps=5000"], "cannot exceed T"),
    (["train", "wgan", "--set", "nonsense"], "--set wants KEY=VALUE"),
    (["train", "wgan", "--out-name", "../../x"], "not a plain name"),
    (["train", "wgan", "--out-name", "/tmp/abs"], "not a plain name"),
    (["train", "wgan", "--out-name", ".."], "not a plain name"),
    (["train", "wgan", "--steps", "0"], "whole number >= 1"),
    (["classify", "--archs", "nope"], "unknown architecture 'nope'"),
    (["classify", "--settings", "bogus"], "Unknown data setting 'bogus'"),
    (["classify", "--settings", "real+syn:nope"], "unknown generator 'nope'"),
    (["classify", "--folds", "9"], "not [9]"),
    (["classify", "--seeds", "x"], "--seeds wants comma-separated whole numbers"),
    (["classify", "--seeds", ","], "--seeds wants comma-separated whole numbers"),  # not the default seeds
    (["classify", "--folds", ","], "--folds wants comma-separated whole numbers, e.g. 0,1,2; got ','"),
    (["classify", "--seeds", "0,0"], "--seeds lists 0 more than once; give each value once"),
    (["classify", "--folds", "0,1,0", "--seeds", "0"], "--folds lists 0 more than once"),
    (["classify", "--archs", "tiny,tiny"], "--archs lists tiny more than once"),
    (["classify", "--epochs", "0"], "whole number >= 1"),
    # --set on every command with a preset: the preset's own rules, one line
    (["classify", "--set", "epochs=0"], "The classifier grid setting epochs wants a whole number >= 1 (or none); got '0'"),
    (["classify", "--set", "epoch=3"], "The classifier grid has no setting 'epoch'; known: archs, augment, bs"),
    (["classify", "--set", "augment=wild"], "The classifier grid setting augment wants one of none, mild, busi_study"),
    (["classify", "--set", "folds=0"], "folds wants a whole number >= 1 or split (or none); got '0'"),
    (["pitfalls", "--set", "folds=1"], "The pitfalls budget setting folds wants a whole number >= 2; got '1'"),
    (["pitfalls", "--seeds", "x"], "The pitfalls budget setting seeds wants comma-separated numbers, each >= 0"),
    (["pitfalls", "--set", "nonsense"], "--set wants KEY=VALUE"),
    (["ddpm-study", "--set", "syn_test_frac=1.5"], "The DDPM study budget setting syn_test_frac wants a number >= 0 and < 1"),
    (["ddpm-study", "--set", "bogus=1"], "The DDPM study budget has no setting 'bogus'"),
    (["quality", "--set", "repeats=many"], "The quality stage setting repeats wants a whole number >= 1; got 'many'"),
    (["quality", "--set", "extractor=x"], "The quality stage has no setting 'extractor'; known: calib_quantile"),
    (["prepare", "--set", "size=50"], "The data profile setting size wants one of 16, 32, 64, 128, 256, 512, 1024; got"),
    (["prepare", "--folds", "1"], "The data profile setting n_folds wants a whole number >= 2; got 1"),
    (["prepare", "--set", "phantom_counts=benign"], "phantom_counts wants name:count pairs >= 0"),
])
def test_bad_options_are_one_line_and_status_2(smoke_cfg, capsys, tmp_path, args, message):
    rc, text = _run(args[:1] + (args[1:2] if args[0] == "train" else []) + _common(smoke_cfg)
                    + (args[2:] if args[0] == "train" else args[1:]), capsys)
    assert rc == 2, text
    assert message in text, text
    assert "Traceback" not in text and "usage:" not in text
    assert len([line for line in text.splitlines() if line.startswith("error")]) == 1
    assert not (smoke_cfg.runs_dir / "generators").exists()  # refused before anything trained
    assert not list(tmp_path.parent.glob("x")) and not (tmp_path / "x").exists()


def test_out_name_cannot_leave_the_runs_folder_from_python_either(smoke_cfg):
    from helpers.generators import train_and_export

    for name in ("../escape", "/tmp/escape", "a/b", ".hidden", "x" * 101):
        with pytest.raises(SettingError, match="not a plain name"):
            train_and_export("wgan", smoke_cfg, out_name=name, steps=1, progress=False)
    assert not (smoke_cfg.runs_dir.parent / "escape").exists()


def test_only_course_errors_are_shortened(monkeypatch, capsys):
    """A bug is not a user error: it keeps its traceback."""
    import helpers.commands.prepare as prep

    monkeypatch.setattr(prep, "run", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["prepare", "--profile", "smoke"])


@pytest.mark.parametrize("limit", [20_000, 150_000])  # bytes per file: the image cache; a checkpoint
def test_a_full_disk_is_one_line_from_any_stage_and_the_rerun_finishes(smoke_cfg, limit):
    """A file-size limit (as a full disk) while training and exporting a generator: one line, status
    2, no traceback; the same command without the limit then finishes."""
    import resource
    import subprocess
    import sys

    from helpers.prepare import load_prepared

    load_prepared(smoke_cfg, progress=False, verbose=False)
    cmd = [sys.executable, "-m", "helpers", "train", "dcgan", "--profile", "smoke", "--data-dir",
           str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    cut = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert cut.returncode == 2, cut.stderr
    assert "Traceback" not in cut.stderr and "inline_container" not in cut.stderr
    line = cut.stderr.strip().splitlines()[-1]  # may follow the cleared remains of a progress bar
    assert "error: Could not write" in line and "file-size limit" in line, line
    assert line[line.index("error:"):].count("error:") == 1
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert (smoke_cfg.runs_dir / "synthetic" / "dcgan" / "manifest.csv").exists()
