"""`--dataset folder`: a researcher's own folder of class sub-folders (four classes here) through
the config, the records, the splits, a classifier grid, GAN training and notebooks 01-02; and
the registry that every dataset's facts come from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.cli import main
from helpers.config import DATASETS, default_runs_dir, resolve
from helpers.course.runner import execute, parameters
from helpers.data import load_records, registry
from helpers.data.folders import read_class_folders
from helpers.data.preprocess import load_images
from helpers.data.registry import Dataset
from helpers.data.splits import straddling_groups
from helpers.errors import DataError, SettingError
from helpers.prepare import load_prepared, prepare
from helpers.synth import write_synthetic_set

ROOT = Path(__file__).resolve().parents[1]
FOUR = ("healthy", "cyst", "fibroadenoma", "carcinoma")
SORTED = tuple(sorted(FOUR))  # carcinoma, cyst, fibroadenoma, healthy


def make_folder(root: Path, classes=FOUR, n: int = 8, colour: bool = False, rgb_grey: bool = False) -> Path:
    """n small images per class, each its own pattern plus noise (no near-duplicates); `colour`
    tints them per class, `rgb_grey` stores grey images as RGB (as BUSI does)."""
    rng = np.random.default_rng(len(classes))
    y, x = np.mgrid[0:40, 0:48]
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = np.clip(100 + 50 * np.sin(x / (2 + k) + i) * np.cos(y / (2 + i % 4)) + rng.normal(0, 25, x.shape), 0, 255)
            img = Image.fromarray(a.astype(np.uint8), "L")
            if colour:
                tint = np.array([(1.0, 0.5, 0.7), (0.4, 0.9, 0.6), (0.6, 0.5, 1.0), (1.0, 0.9, 0.3)][k % 4])
                img = Image.fromarray((np.asarray(img, float)[..., None] * tint).astype(np.uint8), "RGB")
            elif rgb_grey:
                img = img.convert("RGB")
            img.save(root / cls / f"{cls} ({i + 1}).png")
    return root


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("four") / "my-scans")


def test_classes_come_from_the_folders_sorted(four, tmp_path):
    cfg = resolve("smoke", "folder", four, tmp_path / "runs")
    assert cfg.classes == SORTED and cfg.channels == 1 and cfg.dup_threshold == 0.97
    assert cfg.phantom_counts == {}  # phantom-only settings do not apply
    df = load_records("folder", four, progress=False)
    assert len(df) == 32 and set(df["source"]) == {"folder"}
    assert (df["label"] == df["class_name"].map(SORTED.index)).all()
    # one runs folder per data folder: another folder's generators are never resumed
    assert resolve("smoke", "folder", four).runs_dir == default_runs_dir("smoke", "folder", four)
    assert default_runs_dir("smoke", "folder", four).name == "smoke-folder-my-scans"
    assert "folder" in DATASETS


def test_a_stated_order_and_channels_win(tmp_path):
    d = make_folder(tmp_path / "d")
    order = ["healthy", "carcinoma", "cyst"]  # fibroadenoma is left out
    (d / "dataset.json").write_text(json.dumps({"classes": order, "channels": 3}))
    cfg = resolve("smoke", "folder", d, tmp_path / "runs")
    assert cfg.classes == tuple(order) and cfg.channels == 3
    df = load_records("folder", d, progress=False)
    assert df["class_name"].value_counts().to_dict() == dict.fromkeys(order, 8)
    assert (df["label"] == df["class_name"].map(order.index)).all()
    assert load_images(df, 16, progress=False).shape == (24, 16, 16, 3)


@pytest.mark.parametrize("colour, rgb_grey, channels", [(True, False, 3), (False, True, 1), (False, False, 1)])
def test_the_images_decide_the_channels(tmp_path, colour, rgb_grey, channels):
    d = make_folder(tmp_path / "d", ("a", "b"), n=3, colour=colour, rgb_grey=rgb_grey)
    assert resolve("smoke", "folder", d, tmp_path / "runs").channels == channels
    df = load_records("folder", d, progress=False)
    shape = load_images(df.iloc[::2], 16, progress=False).shape  # any part of the table: the folder's channels
    assert shape == (3, 16, 16, 3) if channels == 3 else shape == (3, 16, 16)


def _bad(tmp_path, case) -> Path:
    d = tmp_path / "d"
    if case == "missing":
        return d
    make_folder(d, ("a", "b"), n=2)
    if case == "one class":
        shutil.rmtree(d / "b")
    elif case == "empty class":
        (d / "c").mkdir()
    elif case == "only masks":
        (d / "c").mkdir()
        shutil.copy(d / "a" / "a (1).png", d / "c" / "c (1)_mask.png")
    elif case == "bad json":
        (d / "dataset.json").write_text("{classes: a}")
    elif case == "unknown class":
        (d / "dataset.json").write_text(json.dumps({"classes": ["a", "tumour"]}))
    elif case == "bad channels":
        (d / "dataset.json").write_text(json.dumps({"channels": 2}))
    return d


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist. Point --data-dir"),
    ("one class", "holds 1 class folder(s) (a); --dataset folder needs at least two"),
    ("empty class", "holds no images"),
    ("only masks", "holds no images"),
    ("bad json", "is not readable JSON"),
    ("unknown class", "names class folder(s) tumour"),
    ("bad channels", "must be 1 (grey) or 3 (RGB)"),
])
def test_a_folder_that_cannot_be_used_is_one_line(tmp_path, capsys, case, message):
    d = _bad(tmp_path, case)
    with pytest.raises(DataError) as e:
        resolve("smoke", "folder", d, tmp_path / "runs")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert main(["prepare", "--profile", "smoke", "--dataset", "folder", "--data-dir", str(d), "--runs-dir",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_the_data_folder_is_required(capsys):
    with pytest.raises(SettingError, match="--dataset folder needs --data-dir"):
        resolve("smoke", "folder")
    assert main(["prepare", "--profile", "smoke", "--dataset", "folder"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "needs --data-dir" in err and "\n" not in err
    assert main(["report", "--dataset", "folder"]) == 2  # no default runs folder without the data folder
    assert "give --runs-dir" in capsys.readouterr().err


def test_prepare_records_and_grouped_splits(four, tmp_path):
    cfg = resolve("smoke", "folder", four, tmp_path / "runs")
    records = prepare(cfg, progress=False, verbose=False)
    assert records["class_name"].value_counts().to_dict() == dict.fromkeys(FOUR, 8)
    assert sorted(records["label"].unique()) == [0, 1, 2, 3]
    assert set(records["split"]) == {"train", "val", "test"} and records["fold"].nunique() == cfg.n_folds
    assert set(records.loc[records["split"] == "train", "class_name"]) == set(FOUR)
    assert not straddling_groups(records, "split") and not straddling_groups(records, "fold")
    again = load_prepared(cfg, progress=False, verbose=False)  # read back, checked against cfg.classes
    assert again[["path", "label", "split", "fold"]].equals(records[["path", "label", "split", "fold"]])


def test_a_stated_order_rebuilds_the_prepared_table(tmp_path):
    d = make_folder(tmp_path / "d", ("a", "b", "c"))
    first = load_prepared(resolve("smoke", "folder", d, tmp_path / "runs"), progress=False, verbose=False)
    assert first.groupby("class_name")["label"].first().to_dict() == {"a": 0, "b": 1, "c": 2}
    (d / "dataset.json").write_text(json.dumps({"classes": ["c", "b", "a"]}))
    cfg = resolve("smoke", "folder", d, tmp_path / "runs")
    again = load_prepared(cfg, progress=False, verbose=False)
    assert again.groupby("class_name")["label"].first().to_dict() == {"c": 0, "b": 1, "a": 2}


def test_classifier_grid_on_smoke(four, tmp_path):
    runs = tmp_path / "runs"
    assert main(["classify", "--profile", "smoke", "--dataset", "folder", "--data-dir", str(four), "--runs-dir",
                 str(runs), "--generators", "none"]) == 0
    results = pd.read_csv(runs / "classify" / "results.csv")
    assert len(results) >= 1 and results["accuracy"].between(0, 1).all()
    preds = pd.read_csv(next((runs / "classify" / "runs").glob("*/preds.csv")))
    assert [c for c in preds.columns if c.startswith("p_")] == [f"p_{c}" for c in SORTED]
    assert set(preds["label"]) <= {0, 1, 2, 3} and set(preds["pred"]) <= {0, 1, 2, 3}


@pytest.mark.parametrize("gan", ["cwgan", "dcgan"])
def test_gan_training_on_smoke(four, tmp_path, gan):
    runs = tmp_path / "runs"
    assert main(["train", gan, "--profile", "smoke", "--dataset", "folder", "--data-dir", str(four), "--runs-dir",
                 str(runs), "--steps", "2"]) == 0
    manifest = pd.read_csv(runs / "synthetic" / gan / "manifest.csv")
    assert (manifest["label"] == manifest["class_name"].map(SORTED.index)).all()
    made = set(manifest["class_name"])
    if gan == "cwgan":  # one conditional model for the four classes
        assert made == set(FOUR)
    else:  # one model per class that the balancing asks images of
        assert made and made <= set(FOUR)
        assert {p.name for p in (runs / "generators" / "dcgan").iterdir()} == made


def test_a_colour_folder_trains_an_rgb_generator(tmp_path):
    d = make_folder(tmp_path / "d", ("a", "b", "c", "e"), colour=True)
    runs = tmp_path / "runs"
    assert main(["train", "cwgan", "--profile", "smoke", "--dataset", "folder", "--data-dir", str(d), "--runs-dir",
                 str(runs), "--steps", "1"]) == 0
    png = next((runs / "synthetic" / "cwgan").glob("*/*.png"))
    assert Image.open(png).mode == "RGB"


@pytest.mark.notebook
@pytest.mark.parametrize("nb", ["01_data_acquisition", "02_preprocessing", "03_wgan"])
def test_notebook_runs_on_a_folder(four, tmp_path, nb):
    out = tmp_path / f"{nb}.ipynb"
    execute(ROOT / "notebooks" / f"{nb}.ipynb", out, parameters("smoke", "folder", tmp_path / "runs", four),
            timeout=600)
    book = nbformat.read(out, as_version=4)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "dataset=folder" in text


# -- the registry: one record per dataset, everything else derived ------------------------------

def test_a_new_dataset_is_one_record(tmp_path, monkeypatch):
    """What the registry's docstring promises: a record (with its reader) is all a dataset needs."""
    d = make_folder(tmp_path / "toy", ("left", "right"), n=3)
    monkeypatch.setitem(registry.DATASETS, "toy", Dataset("toy", ("right", "left"), "Make it yourself.",
                                                          read_class_folders, dup_threshold=0.9))
    cfg = resolve("smoke", "toy", d, tmp_path / "runs")
    assert cfg.classes == ("right", "left") and cfg.dup_threshold == 0.9 and cfg.channels == 1
    df = load_records("toy", d, progress=False)
    assert (df["label"] == df["class_name"].map({"right": 0, "left": 1})).all()
    with pytest.raises(DataError, match="Data folder .* does not exist. Make it yourself."):
        registry.ensure_dataset(resolve("smoke", "toy", tmp_path / "none", tmp_path / "runs"))


def test_derived_facts_match_the_records():
    assert DATASETS == tuple(registry.DATASETS)
    assert registry.channels("breakhis") == 3 and registry.channels("busi") == 1
    assert registry.channels("synthetic") == 1  # a table that names no dataset
    assert resolve("smoke", "minimias", "/nonexistent").dup_threshold == 0.995
    for name, ds in registry.DATASETS.items():
        if ds.describe is None:
            assert resolve("smoke", name, "/nonexistent").classes == ds.classes
    with pytest.raises(SettingError, match="Unknown dataset 'nope'; choose one of phantom, busi"):
        resolve("smoke", "nope")


def test_synthetic_sets_label_by_the_runs_classes(tmp_path):
    def sample(cls, n, seed):
        return np.zeros((n, 8, 8), np.uint8)

    m = write_synthetic_set(tmp_path / "s", "g", sample, {"cyst": 2, "healthy": 1}, classes=SORTED, progress=False)
    df = pd.read_csv(m)
    assert df.groupby("class_name")["label"].first().to_dict() == {"cyst": 1, "healthy": 3}
    with pytest.raises(SettingError, match="takes its classes from its data folder"):
        write_synthetic_set(tmp_path / "t", "g", sample, {"cyst": 1}, dataset="folder", progress=False)
