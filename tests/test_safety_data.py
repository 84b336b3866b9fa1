"""A user's data is never written over, and odd images and tables are read or refused clearly."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.cli import main
from helpers.data.images import load_gray
from helpers.errors import DataError

SMALL = {"benign": 3, "normal": 2, "malignant": 2}


def _real_folder(root, counts=SMALL):
    """A BUSI-like folder of the user's own images (random pixels, so any overwrite shows)."""
    rng = np.random.default_rng(1)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(1, n + 1):
            Image.fromarray(rng.integers(0, 256, (40, 52), dtype=np.uint8)).save(root / cls / f"{cls} ({i}).png")
    return root


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_refuses_to_write_phantoms_into_a_real_image_folder(tmp_path, capsys):
    real = _real_folder(tmp_path / "busi-copy")
    before = _digests(real)
    rc = main(["prepare", "--profile", "smoke", "--data-dir", str(real), "--runs-dir", str(tmp_path / "R")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "7 images (3 in benign/, 2 in malignant/, 2 in normal/)" in err
    assert "--dataset busi" in err and "not a phantom folder" in err
    assert _digests(real) == before  # not one file written, changed or added


def test_notebook_path_refuses_too_and_the_real_dataset_reads_the_folder(tmp_path):
    from helpers.config import setup
    from helpers.prepare import load_prepared

    real = _real_folder(tmp_path / "mine", {"benign": 9, "normal": 8, "malignant": 8})
    before = _digests(real)
    with pytest.raises(DataError, match="not a phantom folder"):
        load_prepared(setup("smoke", "phantom", real, tmp_path / "R", verbose=False), progress=False)
    recs = load_prepared(setup("smoke", "busi", real, tmp_path / "R2", verbose=False), progress=False,
                         verbose=False)
    assert len(recs) == 25 and _digests(real) == before


def test_a_folder_with_anything_in_it_is_not_taken(tmp_path):
    from helpers.data.phantom_folder import ensure_phantom

    d = tmp_path / "notes"
    d.mkdir()
    (d / "README.txt").write_text("mine")
    with pytest.raises(DataError, match="1 item"):
        ensure_phantom(d, SMALL, 32, progress=False)
    assert [p.name for p in d.iterdir()] == ["README.txt"]


def test_phantoms_go_into_a_new_or_empty_folder_and_are_remade_only_there(tmp_path, monkeypatch):
    from helpers.data import phantom
    from helpers.data.phantom_folder import MARKER, ensure_phantom

    empty = tmp_path / "empty"
    empty.mkdir()
    assert ensure_phantom(empty, SMALL, 32, progress=False)
    assert ensure_phantom(tmp_path / "new" / "deeper", SMALL, 32, progress=False)
    assert not ensure_phantom(empty, SMALL, 32, progress=False)  # current: nothing written
    # a newer phantom version remakes our files, and leaves a file the user put there alone
    (empty / "benign" / "my note.txt").write_text("keep me")
    old = (empty / "benign" / "benign (1).png").stat().st_mtime_ns
    monkeypatch.setattr(phantom, "PHANTOM_VERSION", 99, raising=False)
    assert ensure_phantom(empty, SMALL, 32, progress=False)
    assert json.loads((empty / MARKER).read_text())["version"] == 99
    assert (empty / "benign" / "my note.txt").read_text() == "keep me"
    assert (empty / "benign" / "benign (1).png").stat().st_mtime_ns != old
    # fewer images asked for: the extra phantoms go, nothing else does
    assert ensure_phantom(empty, {"benign": 1, "normal": 1, "malignant": 1}, 32, progress=False)
    assert sorted(p.name for p in (empty / "benign").iterdir()) == ["benign (1).png", "benign (1)_mask.png",
                                                                  "my note.txt"]


# -- images of every depth and mode ---------------------------------------------------------

RAMP = np.linspace(0, 1, 40 * 48).reshape(40, 48)


def _save(tmp_path, name, arr, mode=None):
    p = tmp_path / name
    (Image.fromarray(arr, mode) if mode else Image.fromarray(arr)).save(p)
    return p


@pytest.mark.parametrize("bits", [16, 12, 10])
def test_high_bit_depth_png_keeps_its_contrast(tmp_path, bits):
    full = 2 ** bits - 1
    p = _save(tmp_path, f"scan{bits}.png", np.rint(RAMP * full).astype(np.uint16))
    assert Image.open(p).mode.startswith("I;16")
    g = load_gray(p)
    assert g.min() == 0 and g.max() == 255  # not solid white
    assert abs(g.astype(float) / 255 - RAMP).max() < 0.01  # the ramp, scaled by its bit depth


def test_32_bit_integer_and_float_images(tmp_path):
    i32 = _save(tmp_path, "i.tif", np.rint(RAMP * 4095).astype(np.int32))
    assert Image.open(i32).mode == "I"
    assert abs(load_gray(i32).astype(float) / 255 - RAMP).max() < 0.01
    f01 = _save(tmp_path, "f01.tif", RAMP.astype(np.float32))
    assert Image.open(f01).mode == "F"
    assert abs(load_gray(f01).astype(float) / 255 - RAMP).max() < 0.01
    fwide = _save(tmp_path, "fwide.tif", (RAMP * 3000 - 1000).astype(np.float32))  # any range: stretched
    assert load_gray(fwide).min() == 0 and load_gray(fwide).max() == 255
    bad = RAMP.astype(np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        load_gray(_save(tmp_path, "nan.tif", bad))


def test_colour_palette_and_alpha_modes_read_as_luminance(tmp_path):
    gray = np.rint(RAMP * 255).astype(np.uint8)
    want = load_gray(_save(tmp_path, "l.png", gray))
    rgb = np.repeat(gray[..., None], 3, axis=2)
    assert np.array_equal(load_gray(_save(tmp_path, "rgb.png", rgb)), want)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    assert np.array_equal(load_gray(_save(tmp_path, "rgba.png", rgba)), want)
    la = Image.fromarray(gray).convert("LA")
    la.save(tmp_path / "la.png")
    assert np.array_equal(load_gray(tmp_path / "la.png"), want)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert np.abs(load_gray(tmp_path / "p.png").astype(int) - want).max() <= 2  # palette quantisation
    clear = rgba.copy()
    clear[..., 3] = 0  # fully transparent: laid over black, not its hidden colour
    assert load_gray(_save(tmp_path, "clear.png", clear)).max() == 0


# -- record tables --------------------------------------------------------------------------

def _prepared(tmp_path, phantom_dir):
    from helpers.config import resolve
    from helpers.prepare import prepare

    cfg = resolve("smoke", "phantom", phantom_dir, tmp_path / "R")
    prepare(cfg, progress=False, verbose=False)
    return cfg


@pytest.mark.parametrize("column,value,message", [
    ("label", 3, "label 3 does not match class 'benign'"),
    ("class_name", "cyst", "class 'cyst' is not a class of phantom"),
])
def test_a_bad_row_is_refused_naming_it(tmp_path, phantom_dir, capsys, column, value, message):
    cfg = _prepared(tmp_path, phantom_dir)
    df = pd.read_csv(cfg.records_path)
    df[column] = df[column].astype(object)
    df.loc[4, column] = value
    df.to_csv(cfg.records_path, index=False)
    rc = main(["train", "dcgan", "--profile", "smoke", "--data-dir", str(phantom_dir), "--runs-dir",
               str(cfg.runs_dir), "--steps", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "row 5" in err and message in err and "records.csv" in err
    assert not (cfg.runs_dir / "generators").exists()


def test_training_records_given_in_python_are_checked_too(smoke_cfg):
    from helpers.generators import train_and_export
    from helpers.prepare import load_prepared

    train = load_prepared(smoke_cfg, progress=False, verbose=False).query("split == 'train'").copy()
    train.loc[train.index[0], "label"] = 1  # a benign image labelled normal
    with pytest.raises(DataError, match="row 1 .*label 1 does not match class 'benign'"):
        train_and_export("dcgan", smoke_cfg, train, steps=1, progress=False)


@pytest.mark.parametrize("edit,message", [
    (lambda df, d: df.assign(group=""), "row 1 (.*): has an empty near-duplicate group"),
    (lambda df, d: df.assign(split=df["split"].where(df.index >= 6)), "row 1 .*split that is not train, val or test"),
    (lambda df, d: df.assign(fold=df["fold"].astype(object).where(df.index != 3, "x")), "row 4 .*fold that is not"),
    (lambda df, d: df.assign(path=df["path"].where(df.index != 2, str(d.parent / "elsewhere.png"))),
     "row 3 .*an image outside the data folder"),
    (lambda df, d: df.assign(group=df["group"].where(df.index != 0, df["group"][df["split"] != df["split"][0]].iloc[0])),
     "group.* straddle parts of 'split'"),
])
def test_a_prepared_table_with_bad_groups_splits_or_paths_is_refused_before_training(tmp_path, phantom_dir, capsys,
                                                                                      edit, message):
    """An emptied group column would give zero-width CIs, an empty split puts rows in no part,
    a path outside the data folder trains on another folder's image: refused, one line."""
    cfg = _prepared(tmp_path, phantom_dir)
    edit(pd.read_csv(cfg.records_path), phantom_dir).to_csv(cfg.records_path, index=False)
    rc = main(["classify", "--profile", "smoke", "--data-dir", str(phantom_dir), "--runs-dir", str(cfg.runs_dir),
               "--generators", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert not (cfg.runs_dir / "classify" / "results.csv").exists()


def test_an_empty_class_folder_of_a_dataset_with_fixed_classes_is_not_told_to_remove_it(tmp_path, capsys):
    """BUSI needs all three classes: removing the empty folder would only make it "missing"."""
    data = _real_folder(tmp_path / "busi")
    for p in (data / "normal").iterdir():
        p.unlink()
    rc = main(["prepare", "--profile", "smoke", "--dataset", "busi", "--data-dir", str(data),
               "--runs-dir", str(tmp_path / "R")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "normal has no images, but busi needs images of every class (benign, normal, malignant)" in err, err
    assert "remove" not in err
