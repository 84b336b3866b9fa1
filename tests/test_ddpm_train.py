"""DDPM training: resume equivalence, NaN guard, loading, and the train-and-export pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.ddpm.pipeline import class_weights, load_trained, train_ddpm
from helpers.ddpm.presets import preset
from helpers.train.loop import CHECKPOINT, TrainingDiverged

TINY = dict(base=8, mults=(1, 2), batch=4, lr=1e-3, warmup=2, checkpoint_every=2, sample_every=100,
            grid_per_class=1, ddim_steps=2, ema_decay=0.9)


def _data(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), np.arange(n) % 3


@pytest.mark.parametrize("balance", ["weights", "sampling"])
def test_resume_gives_the_same_weights(tmp_path, balance):
    x, y = _data()
    p = preset("smoke", **TINY, balance=balance)
    train_ddpm(x, y, tmp_path / "straight", p.__class__(**{**p.__dict__, "steps": 4}), 3, progress=False)
    part = p.__class__(**{**p.__dict__, "steps": 2})
    train_ddpm(x, y, tmp_path / "resumed", part, 3, progress=False)
    h = train_ddpm(x, y, tmp_path / "resumed", p.__class__(**{**p.__dict__, "steps": 4}), 3, progress=False).history
    assert h.resumed_from == 2 and h.steps == 4 and list(h.frame["step"]) == list(range(1, 5))
    a = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True)
    for name in ("model", "ema"):
        for k, v in a["modules"][name].items():
            assert torch.equal(v, b["modules"][name][k]), f"{name}.{k} differs after resuming"
    assert torch.equal(a["rng"], b["rng"])
    straight = pd.read_csv(tmp_path / "straight" / "history.csv")
    assert np.array_equal(straight["loss"].to_numpy(), h.frame["loss"].to_numpy())


def test_finished_run_is_loaded_not_retrained(tmp_path):
    x, y = _data()
    p = preset("smoke", **TINY, steps=2)
    first = train_ddpm(x, y, tmp_path, p, 3, progress=False)
    stamp = (tmp_path / CHECKPOINT).stat().st_mtime_ns
    again = train_ddpm(x, y, tmp_path, p, 3, progress=False)
    assert (tmp_path / CHECKPOINT).stat().st_mtime_ns == stamp
    assert again.history.resumed_from == 2
    loaded = load_trained(tmp_path)
    a, b = first.generate(2, 3, seed=5), loaded.generate(2, 3, seed=5)
    assert a.shape == (3, 1, 16, 16) and torch.equal(a, b)
    assert not torch.equal(a, first.generate(2, 3, seed=6))
    assert len(first.history.samples()) == 2  # step 0 and the last step
    with pytest.raises(ValueError, match="other settings"):
        train_ddpm(x, y, tmp_path, preset("smoke", **{**TINY, "lr": 5e-4}, steps=2), 3, progress=False)


def test_nan_guard_stops_training(tmp_path):
    x, y = _data()
    bad = x.astype(np.float32) / 127.5 - 1
    bad[3, 2, 2] = np.nan
    p = preset("smoke", **TINY, steps=40, balance="none")
    with pytest.raises(TrainingDiverged, match="loss.*warm-up"):
        train_ddpm(bad, y, tmp_path, p, 3, progress=False)


def test_class_weights_balance_the_classes():
    y = torch.tensor([0] * 6 + [1] * 2 + [2] * 4)
    w = class_weights(y, 3)
    per_class_total = torch.bincount(y, weights=w[y].double())
    assert torch.allclose(per_class_total, per_class_total[0].expand(3))
    assert abs(float(w[y].mean()) - 1.0) < 1e-6


def test_cli_trains_and_exports_a_balanced_set_from_train_records(smoke_cfg, phantom_dir, capsys):
    """`python -m helpers train ddpm` end to end on the smoke profile; a rerun reuses it all."""
    from helpers.cli import main
    from helpers.prepare import load_prepared
    from helpers.synth import balance_counts, read_manifest, read_trained_on

    argv = ["train", "ddpm", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(phantom_dir),
            "--runs-dir", str(smoke_cfg.runs_dir), "--steps", "2"]
    assert main(argv) == 0
    manifest = smoke_cfg.runs_dir / "synthetic" / "ddpm" / "manifest.csv"
    assert str(manifest) in capsys.readouterr().out
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"]
    df = read_manifest(manifest)
    want = {c: n for c, n in balance_counts(train["class_name"].value_counts().to_dict()).items() if n}
    assert df["class_name"].value_counts().to_dict() == want
    assert (df["size"] == smoke_cfg.size).all() and (df["generator"] == "ddpm").all()
    assert read_trained_on(manifest) == {str(Path(p).resolve()) for p in train["path"]}
    assert (smoke_cfg.runs_dir / "generators" / "ddpm" / "all" / CHECKPOINT).exists()
    stamp = manifest.stat().st_mtime_ns
    assert main(argv) == 0
    assert manifest.stat().st_mtime_ns == stamp, "a finished run and its set are reused"


def test_cli_variant_with_settings_on_top(smoke_cfg, phantom_dir):
    """--variant applies a named preset change; --set wins over it; --steps over its budget."""
    import torch

    from helpers.cli import main

    argv = ["train", "ddpm", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(phantom_dir),
            "--runs-dir", str(smoke_cfg.runs_dir), "--variant", "busi-cpu", "--steps", "2",
            "--set", "ddim_steps=2", "--set", "mults=1,2", "--out-name", "ddpm-v"]
    assert main(argv) == 0
    c = torch.load(smoke_cfg.runs_dir / "generators" / "ddpm-v" / "all" / CHECKPOINT, weights_only=True)["config"]
    assert (c["base"], c["balance"], c["guidance"]) == (16, "sampling", 3.0)  # from the variant
    assert (c["ddim_steps"], c["mults"], c["total_steps"]) == (2, [1, 2], 2)  # --set and --steps win
    assert (smoke_cfg.runs_dir / "figures" / "ddpm-v_real_vs_synthetic.png").exists()
