"""GAN training loops: resume equivalence, NaN guard, clipping in training, the conditional
model honouring its label, the pipeline (train, skip, re-export) and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.gan import steps as steps_mod
from helpers.gan.core import load_generator, sample
from helpers.gan.pipeline import train_run
from helpers.train.loop import CHECKPOINT, TrainingDiverged


def _images(n=12, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def _train(kind, data, cfg, run_dir, steps, **kw):
    if kind == "cwgan":
        return train_run(kind, (data, np.arange(len(data)) % 3), cfg, run_dir, steps=steps, progress=False,
                         n_classes=3, **kw)
    return train_run(kind, data, cfg, run_dir, steps=steps, progress=False, **kw)


def _checkpoint(run_dir):
    return torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)


def _assert_same(a, b):
    for part in ("modules", "optimizers"):
        fa, fb = _flatten(a[part]), _flatten(b[part])
        assert fa.keys() == fb.keys()
        for k in fa:
            if isinstance(fa[k], torch.Tensor):
                assert torch.equal(fa[k], fb[k]), f"{part} {k} differs"
            else:
                assert fa[k] == fb[k], f"{part} {k} differs"


def _flatten(d, prefix=""):
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else enumerate(d)):
        key = f"{prefix}/{k}"
        if isinstance(v, (dict, list, tuple)) and not isinstance(v, torch.Tensor):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


@pytest.mark.parametrize("kind", ["wgan", "wgan-gp", "dcgan", "cwgan"])
def test_resume_is_exact(kind, smoke_cfg, tmp_path):
    data = _images()
    straight, split = tmp_path / "straight", tmp_path / "split"
    extra = {"ema": 0.9} if kind == "cwgan" else {}  # the EMA copy is checkpointed too
    _train(kind, data, smoke_cfg, straight, 7, **extra)
    first = _train(kind, data, smoke_cfg, split, 4, **extra)  # stopped at step 4 ...
    assert first.steps == 4
    h = _train(kind, data, smoke_cfg, split, 7, **extra)      # ... and continued
    assert h.resumed_from == 4 and h.steps == 7
    _assert_same(_checkpoint(straight), _checkpoint(split))
    a, b = pd.read_csv(straight / "history.csv"), pd.read_csv(split / "history.csv")
    pd.testing.assert_frame_equal(a, b)


def test_killed_mid_run_resumes_exactly(smoke_cfg, tmp_path, monkeypatch):
    """A crash between checkpoints loses only the steps after the last one."""
    data = _images()
    _train("wgan-gp", data, smoke_cfg, tmp_path / "straight", 7)
    real_step, calls = steps_mod.generator_step, {"n": 0}

    def dying_step(run):
        calls["n"] += 1
        if calls["n"] == 5:  # checkpoint_every is 3 on smoke: step 3 saved, 4 done, dies in 5
            raise KeyboardInterrupt
        return real_step(run)

    monkeypatch.setattr(steps_mod, "generator_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        _train("wgan-gp", data, smoke_cfg, tmp_path / "killed", 7)
    assert _checkpoint(tmp_path / "killed")["step"] == 3
    monkeypatch.setattr(steps_mod, "generator_step", real_step)
    h = _train("wgan-gp", data, smoke_cfg, tmp_path / "killed", 7)
    assert h.resumed_from == 3
    _assert_same(_checkpoint(tmp_path / "straight"), _checkpoint(tmp_path / "killed"))
    assert list(h.frame["step"]) == list(range(1, 8))


def test_resume_refuses_other_settings(smoke_cfg, tmp_path):
    _train("wgan-gp", _images(), smoke_cfg, tmp_path / "r", 3)
    with pytest.raises(ValueError, match="other settings"):
        _train("wgan-gp", _images(), smoke_cfg, tmp_path / "r", 3, gp_weight=1.0)
    with pytest.raises(ValueError, match="other settings"):  # other training images
        _train("wgan-gp", _images(seed=1), smoke_cfg, tmp_path / "r", 3)


@pytest.mark.parametrize("kind,hint", [("wgan-gp", "gradient-penalty"), ("dcgan", "EMA"), ("wgan", "clip")])
def test_nan_guard(kind, hint, smoke_cfg, tmp_path):
    data = torch.zeros(8, 32, 32)
    data[0, 0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=f"diverged; .*{hint}"):
        _train(kind, data, smoke_cfg, tmp_path / "nan", 50)


def test_clipping_holds_during_training(smoke_cfg, tmp_path):
    run_dir = tmp_path / "w"
    _train("wgan", _images(), smoke_cfg, run_dir, 3, clip=0.005)
    critic = _checkpoint(run_dir)["modules"]["critic"]
    weights = torch.cat([v.flatten() for k, v in critic.items() if "running" not in k and "num_batches" not in k])
    assert weights.abs().max().item() <= 0.005 + 1e-9
    assert (weights.abs() == 0.005).any()


def test_history_columns(smoke_cfg, tmp_path):
    h = _train("wgan-gp", _images(), smoke_cfg, tmp_path / "h", 3)
    assert {"wasserstein", "gp", "loss_d", "loss_g", "grad_norm_d", "grad_norm_g"} <= set(h.frame.columns)
    assert len(h.samples()) >= 2  # fixed-noise grids at step 0 and later
    h = _train("dcgan", _images(), smoke_cfg, tmp_path / "d", 4)
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(h.frame.columns)


def test_bad_inputs(smoke_cfg, tmp_path):
    with pytest.raises(ValueError, match="power of two"):
        _train("wgan-gp", _images(size=48), smoke_cfg, tmp_path / "a", 2)
    with pytest.raises(ValueError, match="empty"):
        _train("wgan-gp", np.zeros((0, 32, 32), np.uint8), smoke_cfg, tmp_path / "b", 2)
    with pytest.raises(ValueError, match="per image"):
        _train("wgan-gp", _images(), smoke_cfg, tmp_path / "c", 2, critic_norm="batch")


def test_conditional_generator_honours_label(smoke_cfg, tmp_path):
    """Class 0 dark, class 1 bright: after a short run, each label's samples take its class's
    brightness, with the same noise."""
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, (16, 32, 32)).astype(np.uint8)
    bright = rng.integers(215, 256, (16, 32, 32)).astype(np.uint8)
    data, labels = np.concatenate([dark, bright]), np.repeat([0, 1], 16)
    run_dir = tmp_path / "c"
    train_run("cwgan", (data, labels), smoke_cfg, run_dir, steps=80, progress=False, n_classes=2, n_critic=1,
              lr_g=1e-3, lr_d=1e-3, sample_every=100, checkpoint_every=100)
    G = load_generator(run_dir)
    m0, m1 = sample(G, 32, seed=3, label=0).mean().item(), sample(G, 32, seed=3, label=1).mean().item()
    assert m0 < -0.3 and m1 > 0.3, (m0, m1)


def test_pipeline_end_to_end(smoke_cfg):
    from helpers.generators import train_and_export
    from helpers.prepare import load_prepared
    from helpers.synth import read_manifest, read_trained_on

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    counts = train["class_name"].value_counts().to_dict()
    manifest = train_and_export("wgan-gp", smoke_cfg, steps=2, progress=False)
    df = read_manifest(manifest)
    got = df["class_name"].value_counts().to_dict()
    goal = max(counts.values()) + 50  # the WGAN study's balancing: largest class + 50
    assert got == {c: goal - n for c, n in counts.items()}
    assert set(df["size"]) == {32} and (df["checkpoint"].str.len() == 64).all()
    assert df.groupby("class_name")["checkpoint"].nunique().eq(1).all()
    assert df["checkpoint"].nunique() == 3  # one model per class
    assert read_trained_on(manifest) == {str(Path(p).resolve()) for p in train["path"]}
    assert not set(read_trained_on(manifest)) & set(records.loc[records["split"] == "test", "path"])

    # finished: a rerun trains nothing and leaves the set alone
    ck = smoke_cfg.runs_dir / "generators" / "wgan-gp" / "benign" / CHECKPOINT
    before = (ck.stat().st_mtime_ns, manifest.stat().st_mtime_ns)
    assert train_and_export("wgan-gp", smoke_cfg, steps=2, progress=False) == manifest
    assert (ck.stat().st_mtime_ns, manifest.stat().st_mtime_ns) == before
    # a missing image makes it re-export (without retraining)
    first = df["path"].iloc[0]
    os.remove(first)
    train_and_export("wgan-gp", smoke_cfg, steps=2, progress=False)
    assert ck.stat().st_mtime_ns == before[0]
    assert len(read_manifest(manifest)) == len(df)


def test_pipeline_dcgan_minority_only_and_cwgan(smoke_cfg):
    from helpers.generators import train_and_export
    from helpers.synth import read_manifest

    m = train_and_export("dcgan", smoke_cfg, steps=2, progress=False)
    df = read_manifest(m)
    assert "benign" not in set(df["class_name"])  # the DCGAN study: minority classes up to the largest
    assert not (smoke_cfg.runs_dir / "generators" / "dcgan" / "benign").exists()
    m = train_and_export("cwgan", smoke_cfg, steps=2, progress=False)
    df = read_manifest(m)
    assert set(df["class_name"]) == {"benign", "normal", "malignant"} and df["checkpoint"].nunique() == 1


def test_cli_train(smoke_cfg, capsys):
    from helpers.cli import main

    rc = main(["train", "wgan", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(smoke_cfg.data_dir),
               "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "2"])
    assert rc == 0
    assert (smoke_cfg.runs_dir / "synthetic" / "wgan" / "manifest.csv").exists()
    assert "synthetic set:" in capsys.readouterr().out


def test_cli_train_with_settings_and_out_name(smoke_cfg, capsys):
    import torch

    from helpers.cli import main, parse_pairs
    from helpers.commands.train import stage_preset
    from helpers.presets import parse_text as parse_value

    assert parse_value("5") == 5 and parse_value("1e-4") == 1e-4 and parse_value("1,2,4") == (1, 2, 4)
    assert parse_value("resize") == "resize" and parse_value("true") is True
    base = ["train", "wgan-gp", "--profile", "smoke", "--dataset", "phantom", "--data-dir",
            str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "2"]
    assert main(base + ["--set", "n_critc=5"]) == 2  # a typo is named, nothing is trained
    assert "no setting 'n_critc'" in capsys.readouterr().err
    assert not (smoke_cfg.runs_dir / "generators" / "wgan-gp").exists()
    assert main(base + ["--set", "n_critic=3", "--set", "upsample=resize", "--out-name", "wgp-nc3"]) == 0
    ck = torch.load(smoke_cfg.runs_dir / "generators" / "wgp-nc3" / "benign" / "checkpoint.pt", weights_only=True)
    assert ck["config"]["n_critic"] == 3 and ck["config"]["upsample"] == "resize"
    assert (smoke_cfg.runs_dir / "synthetic" / "wgp-nc3" / "manifest.csv").exists()
    assert (smoke_cfg.runs_dir / "figures" / "wgp-nc3_real_vs_synthetic.png").stat().st_size > 1000
    ddpm = stage_preset("ddpm", "quick", parse_pairs(["base=16", "mults=1,2,4,4"]))
    assert (ddpm.base, ddpm.mults) == (16, (1, 2, 4, 4))
    assert main(base + ["--variant", "no-such"]) == 2 and "no variant 'no-such'" in capsys.readouterr().err
