"""The quality command on the smoke profile, with synthetic sets made for the purpose:
copies of training images (must be flagged), held-out real images (a perfect generator) and
noise (must score far worse than real-vs-real)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.cli import main
from helpers.data.preprocess import load_images
from helpers.prepare import load_prepared
from helpers.synth import write_synthetic_set


def _from(pool: np.ndarray, names: np.ndarray, flip: bool = False):
    def sample(cls, n, seed):
        rng = np.random.default_rng(seed)
        imgs = pool[rng.choice(np.flatnonzero(names == cls), n)]
        return np.ascontiguousarray(imgs[:, :, ::-1] if flip else imgs)
    return sample


@pytest.fixture
def sets(smoke_cfg):
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train, held = records[records["split"] == "train"], records[records["split"] != "train"]
    size = smoke_cfg.size
    x_train, x_held = (load_images(r, size, None, progress=False) for r in (train, held))
    counts = {"benign": 12, "normal": 10, "malignant": 10}
    root = smoke_cfg.runs_dir / "synthetic"
    kw = dict(dataset="phantom", progress=False)
    write_synthetic_set(root / "copies", "copies", _from(x_train, train["class_name"].to_numpy(), True), counts, **kw)
    # a "generator" that saw the held-out images: the report must warn about it
    write_synthetic_set(root / "heldout", "heldout", _from(x_held, held["class_name"].to_numpy()), counts, **kw,
                        trained_on=list(held["path"]))
    noise = lambda cls, n, seed: np.random.default_rng(seed).integers(0, 256, (n, size, size)).astype(np.uint8)  # noqa: E731
    write_synthetic_set(root / "noise", "noise", noise, counts, **kw)
    return smoke_cfg


def _cli(cfg, *extra):
    return main(["quality", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(cfg.data_dir),
                 "--runs-dir", str(cfg.runs_dir), *extra])


def test_quality_command_scores_every_set(sets, capsys):
    assert _cli(sets) == 0
    table = pd.read_csv(sets.runs_dir / "quality" / "quality.csv")
    assert set(table["generator"]) == {"real", "copies", "heldout", "noise"}
    assert len(table) == 4 * 4  # three classes + 'all' per set
    t = table[table["class_name"] == "all"].set_index("generator")
    assert t.loc["copies", "memorised"] == 1.0
    assert t.loc["heldout", "memorised"] < 0.2
    assert t.loc["noise", "fid"] > 20 * t.loc["real", "fid"]
    assert t.loc["noise", "precision"] < t.loc["heldout", "precision"]
    assert (table.groupby("class_name")["fid_real"].nunique() == 1).all()  # one baseline beside every set
    assert (sets.runs_dir / "quality" / "memorisation_copies.csv").exists()
    out = capsys.readouterr().out
    assert "FID (real)" in out and "noise" in out
    assert "warning: heldout was trained on" in out and "warning: copies" not in out


def test_quality_command_without_sets_says_what_to_do(smoke_cfg, capsys):
    assert _cli(smoke_cfg) == 2
    assert "python -m helpers train" in capsys.readouterr().err


def test_quality_command_only_unknown_set(sets, capsys):
    assert _cli(sets, "--only", "ddpm") == 2
    assert "found: copies, heldout, noise" in capsys.readouterr().err
