"""Synthetic manifests, profiles, the prepare command and the student build."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from helpers.cli import main
from helpers.config import resolve
from helpers.course.student import strip_solutions
from helpers.data import DataError
from helpers.synth import (
    balance_counts,
    find_manifests,
    read_manifest,
    read_trained_on,
    write_synthetic_set,
)


def test_balance_counts_match_the_studies():
    busi = {"benign": 437, "normal": 133, "malignant": 210}
    assert balance_counts(busi, extra=50) == {"benign": 50, "normal": 354, "malignant": 277}  # WGAN study
    assert balance_counts(busi) == {"benign": 0, "normal": 304, "malignant": 227}  # DCGAN study
    assert balance_counts(busi, target=100) == {"benign": 0, "normal": 0, "malignant": 0}


def test_manifest_round_trip(tmp_path):
    def sample(cls, n, seed):
        return np.random.default_rng(seed).integers(0, 255, (n, 16, 16), dtype=np.uint8)

    ck = tmp_path / "ck.pt"
    ck.write_bytes(b"weights")
    m = write_synthetic_set(tmp_path / "synthetic" / "toy", "toy", sample, {"benign": 3, "malignant": 5},
                            checkpoint=ck, seed=7, batch=2, progress=False, trained_on=["/data/a.png"])
    df = read_manifest(m)
    assert len(df) == 8 and set(df.generator) == {"toy"} and (df.source == "synthetic").all()
    assert df.checkpoint.nunique() == 1 and len(df.checkpoint[0]) == 64
    assert df.loc[df.class_name == "malignant", "label"].eq(2).all()
    assert read_trained_on(m) == {"/data/a.png"}
    assert find_manifests(tmp_path) == {"toy": m}
    os.remove(df.path[0])
    with pytest.raises(DataError, match="missing"):
        read_manifest(m)


def test_profiles_resolve(tmp_path):
    cfg = resolve("smoke", "phantom", None, tmp_path)
    assert cfg.size == 32 and cfg.data_dir.name == "phantom-smoke" and cfg.runs_dir == tmp_path
    assert resolve("paper", "busi", "/x", tmp_path).size == 128
    with pytest.raises(ValueError, match="profile"):
        resolve("fast")
    with pytest.raises(ValueError, match="dataset"):
        resolve("quick", "imagenet")


def test_prepare_command_on_phantom(tmp_path, phantom_dir):
    rc = main(["prepare", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(phantom_dir),
               "--runs-dir", str(tmp_path / "runs")])
    assert rc == 0
    df = pd.read_csv(tmp_path / "runs" / "data" / "records.csv")
    for col in ["path", "class_name", "label", "group", "split", "fold", "source"]:
        assert col in df
    assert (df.groupby("group")["split"].nunique() == 1).all()
    assert (df.groupby("group")["fold"].nunique() == 1).all()
    assert df["group"].nunique() < len(df)  # the phantom has near-duplicate frames
    rep = json.loads((tmp_path / "runs" / "data" / "duplicates.json").read_text())
    assert rep["n_groups"] >= 1


def test_prepare_command_takes_data_settings(tmp_path, phantom_dir):
    """`--set` changes the data profile's preset; `--folds` is the same as `--set n_folds=`."""
    common = ["prepare", "--profile", "smoke", "--dataset", "phantom", "--data-dir", str(phantom_dir)]
    assert main([*common, "--runs-dir", str(tmp_path / "a"), "--set", "n_folds=4"]) == 0
    assert main([*common, "--runs-dir", str(tmp_path / "b"), "--folds", "4"]) == 0
    a, b = (pd.read_csv(tmp_path / r / "data" / "records.csv") for r in ("a", "b"))
    assert a["fold"].nunique() == 4 and a.equals(b)


def test_prepare_command_reports_bad_folder(tmp_path, capsys):
    rc = main(["prepare", "--dataset", "busi", "--data-dir", str(tmp_path / "missing"), "--runs-dir", str(tmp_path)])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.busi
def test_prepare_on_real_busi(busi_dir, tmp_path, capsys):
    rc = main(["prepare", "--dataset", "busi", "--data-dir", str(busi_dir), "--runs-dir", str(tmp_path),
               "--profile", "quick"])
    assert rc == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "data" / "duplicates.json").read_text())
    # the structure documented with the data: 138 groups, 310 images, 10 cross-class pairs at 0.97
    assert rep["n_groups"] >= 100 and rep["n_images_in_groups"] > 250
    assert len(rep["cross_class_pairs"]) >= 5 and "across classes" in out
    df = pd.read_csv(tmp_path / "data" / "records.csv")
    assert len(df) == 780
    assert (df.groupby("group")["split"].nunique() == 1).all()
    assert (df.groupby("group")["fold"].nunique() == 1).all()


def test_strip_solutions():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    # HINT: square it\n    return x * x\n    ### END SOLUTION\nprint(f(2))"
    out = strip_solutions(src)
    assert "x * x" not in out
    assert "    raise NotImplementedError('Exercise: square it')" in out
    assert out.endswith("print(f(2))")
    with pytest.raises(ValueError):
        strip_solutions("### BEGIN SOLUTION\nx = 1")


def test_manifest_records_each_class_model(tmp_path):
    """Per-class generators: each image carries the hash of its own class's checkpoint."""
    from helpers.synth import sha256_file

    paths = {}
    for cls in ("normal", "malignant"):
        paths[cls] = tmp_path / f"{cls}.pt"
        paths[cls].write_bytes(cls.encode())
    m = write_synthetic_set(tmp_path / "set", "gan", lambda c, n, s: np.zeros((n, 8, 8), np.uint8),
                            {"normal": 2, "malignant": 3}, checkpoint=paths, progress=False)
    df = read_manifest(m)
    for cls, p in paths.items():
        assert set(df.loc[df.class_name == cls, "checkpoint"]) == {sha256_file(p)}
