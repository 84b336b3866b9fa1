"""Flow-matching training: resume equivalence, loading, the one-line errors, and
`python -m helpers train flow` from the training split to a manifest and trained_on.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.cli import main
from helpers.flow.pipeline import load_trained, train_flow
from helpers.flow.presets import preset
from helpers.train.loop import CHECKPOINT

TINY = dict(base=8, mults=(1, 2), batch=4, lr=1e-3, warmup=2, checkpoint_every=2, sample_every=100,
            grid_per_class=1, nfe=2, ema_decay=0.9)


def _data(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), np.arange(n) % 3


@pytest.mark.parametrize("balance", ["weights", "sampling"])
def test_resume_gives_the_same_weights(tmp_path, balance):
    x, y = _data()
    p = preset("smoke", **TINY, balance=balance)
    train_flow(x, y, tmp_path / "straight", p.with_(steps=4), 3, progress=False)
    train_flow(x, y, tmp_path / "resumed", p.with_(steps=2), 3, progress=False)
    h = train_flow(x, y, tmp_path / "resumed", p.with_(steps=4), 3, progress=False).history
    assert h.resumed_from == 2 and h.steps == 4 and list(h.frame["step"]) == list(range(1, 5))
    a = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True)
    for name in ("model", "ema"):
        for k, v in a["modules"][name].items():
            assert torch.equal(v, b["modules"][name][k]), f"{name}.{k} differs after resuming"
    straight = pd.read_csv(tmp_path / "straight" / "history.csv")
    assert np.array_equal(straight["loss"].to_numpy(), h.frame["loss"].to_numpy())


def test_finished_run_is_loaded_not_retrained_and_samples_alike(tmp_path):
    x, y = _data()
    p = preset("smoke", **TINY, steps=2)
    first = train_flow(x, y, tmp_path, p, 3, progress=False)
    stamp = (tmp_path / CHECKPOINT).stat().st_mtime_ns
    again = train_flow(x, y, tmp_path, p, 3, progress=False)
    assert (tmp_path / CHECKPOINT).stat().st_mtime_ns == stamp and again.history.resumed_from == 2
    loaded = load_trained(tmp_path)
    a, b = first.generate(2, 3, seed=5), loaded.generate(2, 3, seed=5)
    assert a.shape == (3, 1, 16, 16) and torch.equal(a, b)
    assert not torch.equal(a, first.generate(2, 3, seed=6))
    assert not torch.equal(a, first.generate(2, 3, seed=5, method="heun", nfe=4))
    # several classes in one batch: the same class three times is the draw above; mixed classes differ
    assert torch.equal(a, first.generate([2, 2, 2], 0, seed=5))
    mixed = first.generate(np.array([0, 1, 2]), 3, seed=5)
    assert mixed.shape == a.shape and not torch.equal(mixed, a)
    assert torch.allclose(mixed[2], a[2], atol=1e-5)  # same noise, same class: each image on its own
    with pytest.raises(ValueError, match="other settings"):
        train_flow(x, y, tmp_path, p.with_(lr=5e-4), 3, progress=False)


def test_loading_a_missing_run_is_one_line(tmp_path):
    from helpers.errors import CheckpointError

    with pytest.raises(CheckpointError, match="train flow"):
        load_trained(tmp_path)


@pytest.mark.parametrize("args,message", [
    (["--set", "sampler=rk4"], "sampler wants one of euler, heun"),
    (["--set", "sampler=heun", "--set", "nfe=3"], "nfe (3) must be a multiple of 2 with the heun sampler"),
    (["--size", "16", "--set", "mults=1,2,4,8"], "the flow model's U-Net halves the image 3 times"),
])
def test_bad_settings_are_one_line(smoke_cfg, capsys, args, message):
    argv = ["train", "flow", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir),
            "--runs-dir", str(smoke_cfg.runs_dir), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_trains_and_exports_a_balanced_set_from_train_records(smoke_cfg, capsys):
    """`python -m helpers train flow` end to end on the smoke profile; a rerun reuses it all."""
    from helpers.prepare import load_prepared
    from helpers.synth import balance_counts, read_manifest, read_trained_on

    argv = ["train", "flow", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(smoke_cfg.data_dir),
            "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "2"]
    assert main(argv) == 0
    manifest = smoke_cfg.runs_dir / "synthetic" / "flow" / "manifest.csv"
    assert str(manifest) in capsys.readouterr().out
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"]
    df = read_manifest(manifest)
    want = {c: n for c, n in balance_counts(train["class_name"].value_counts().to_dict()).items() if n}
    assert df["class_name"].value_counts().to_dict() == want
    assert (df["size"] == smoke_cfg.size).all() and (df["generator"] == "flow").all()
    assert read_trained_on(manifest) == {str(Path(p).resolve()) for p in train["path"]}
    assert (smoke_cfg.runs_dir / "generators" / "flow" / "all" / CHECKPOINT).exists()
    stamp = manifest.stat().st_mtime_ns
    assert main(argv) == 0
    assert manifest.stat().st_mtime_ns == stamp, "a finished run and its set are reused"
