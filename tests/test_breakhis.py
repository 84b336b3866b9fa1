"""BreakHis: names parsed into class, subtype, patient and magnification; the official layout
read in place or unpacked from an archive; patients kept whole by every split."""

from __future__ import annotations

import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers.config import resolve
from helpers.data import DATASETS, DataError, load_records
from helpers.data import breakhis as bh
from helpers.data.extract import is_complete
from helpers.data.images import load_gray
from helpers.data.records import validate_records
from helpers.prepare import prepare

FOLDERS = {"A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor", "TA": "tubular_adenoma",
           "DC": "ductal_carcinoma", "LC": "lobular_carcinoma", "MC": "mucinous_carcinoma", "PC": "papillary_carcinoma"}


def make_breakhis(root, patients_per_class=2, mags=(40, 100), per_mag=2, size=(14, 10)):
    """The official layout with tiny RGB PNGs: patients cycle through the subtypes."""
    base = root / "BreaKHis_v1" / "histology_slides" / "breast"
    rng = np.random.default_rng(0)
    codes = {"B": ["A", "F", "PT", "TA"], "M": ["DC", "LC", "MC", "PC"]}
    for bm, tumour in (("B", "benign"), ("M", "malignant")):
        for k in range(patients_per_class):
            code = codes[bm][k % 4]
            patient = f"14-{1000 + 10 * k + (bm == 'M')}{'AB' if k % 2 else ''}"
            for mag in mags:
                folder = base / tumour / "SOB" / FOLDERS[code] / f"SOB_{bm}_{code}_{patient}" / f"{mag}X"
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(1, per_mag + 1):
                    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                    Image.fromarray(rgb, "RGB").save(folder / f"SOB_{bm}_{code}-{patient}-{mag}-{i:03d}.png")
    return root


def test_names_are_parsed():
    assert bh.parse_name("SOB_B_A-14-22549AB-40-001.png") == dict(
        tumour="benign", subtype="adenosis", patient="14-22549AB", magnification=40, index=1)
    assert bh.parse_name("SOB_M_PC-15-190EF-400-015.png")["subtype"] == "papillary_carcinoma"
    assert bh.parse_name("Thumbs.db") is None and bh.parse_name("SOB_B_A-14-22549AB-40-001_mask.png") is None
    with pytest.raises(DataError, match="SOB_B_DC-14-1-40-001.png: subtype 'DC' with benign"):
        bh.parse_name("SOB_B_DC-14-1-40-001.png")
    with pytest.raises(DataError, match="at 60X"):
        bh.parse_name("SOB_M_DC-14-1-60-001.png")
    assert DATASETS["breakhis8"].classes == tuple(bh.SUBTYPES.values())


def test_binary_and_subtype_records(tmp_path):
    make_breakhis(tmp_path, patients_per_class=4)
    (tmp_path / "BreaKHis_v1" / "README.txt").write_text("not an image")
    df = load_records("breakhis", tmp_path, progress=False)
    assert len(df) == 32 and df["class_name"].value_counts().to_dict() == {"benign": 16, "malignant": 16}
    assert df["patient"].nunique() == 8 and set(df["magnification"]) == {40, 100}
    assert (df.groupby("patient")["group"].nunique() == 1).all() and df["group"].nunique() == 8
    assert set(df.columns) >= {"path", "label", "class_name", "group", "source", "subtype", "tumour"}
    with Image.open(df["path"][0]) as im:
        assert im.mode == "RGB"  # kept RGB on disk; the course reads it grey
    assert load_gray(df["path"][0], 16).shape == (16, 16)
    sub = load_records("breakhis8", tmp_path, progress=False)
    assert sorted(sub["class_name"].unique()) == sorted(FOLDERS.values())
    validate_records(sub, classes=DATASETS["breakhis8"].classes)
    assert (sub["label"] == sub["class_name"].map(DATASETS["breakhis8"].classes.index)).all()
    at40 = bh.read_breakhis(tmp_path, magnification=40, progress=False)
    assert len(at40) == 16 and set(at40["magnification"]) == {40}


def test_image_in_the_wrong_class_folder_is_named(tmp_path):
    make_breakhis(tmp_path)
    src = next((tmp_path / "BreaKHis_v1").rglob("SOB_M_*.png"))
    dst = next((tmp_path / "BreaKHis_v1").rglob("SOB_B_*.png")).parent / src.name
    src.rename(dst)
    with pytest.raises(DataError, match=f"{dst.name} is named malignant but lies in a folder of the other class"):
        load_records("breakhis", tmp_path, progress=False)


def test_no_images_is_an_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="No BreakHis images"):
        load_records("breakhis", tmp_path, progress=False)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("bh")
    make_breakhis(d / "src", mags=(40, 100, 200, 400), per_mag=1)
    tgz = d / "BreaKHis_v1.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(d / "src" / "BreaKHis_v1", "BreaKHis_v1")
    zp = d / "breakhis.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for p in sorted((d / "src").rglob("*.png")):
            zf.write(p, "archive/" + p.relative_to(d / "src").as_posix())
    return d / "src", tgz, zp


def test_fetch_from_tar_keeps_one_magnification(archives, tmp_path, capsys):
    _, tgz, _ = archives
    res = bh.fetch_breakhis(tmp_path / "d", from_path=tgz, magnification="40", progress=False)
    target = tmp_path / "d" / bh.FOLDER
    assert res["data_dir"] == target and is_complete(target) and (target / "histology_slides").is_dir()
    assert {p.parent.name for p in target.rglob("*.png")} == {"40X"}
    assert "40X" in res["report"] and "100X" not in res["report"] and res["patients"] == 4
    assert "WARNING: counts differ" in res["report"]
    with pytest.raises(DataError, match="holds magnifications 40X, not the 100X"):
        bh.fetch_breakhis(tmp_path / "d", from_path=tgz, magnification="100", progress=False)


def test_fetch_from_zip_folder_and_in_place(archives, tmp_path):
    src, _, zp = archives
    res = bh.fetch_breakhis(tmp_path / "z", from_path=zp, progress=False)
    assert len(load_records("breakhis", res["data_dir"], progress=False)) == 16
    assert not (tmp_path / "z" / ".BreaKHis_v1-raw").exists()
    res = bh.fetch_breakhis(tmp_path / "f", from_path=src, magnification=400, progress=False)
    assert len(load_records("breakhis", res["data_dir"], progress=False)) == 4
    res = bh.fetch_breakhis(tmp_path / "unused", from_path=src, in_place=True, progress=False)
    assert res["data_dir"] == src and not (tmp_path / "unused").exists()
    with pytest.raises(DataError, match="--magnification keeps a subset by copying"):
        bh.fetch_breakhis(tmp_path / "u", from_path=src, in_place=True, magnification=40, progress=False)


def test_prepare_keeps_each_patient_in_one_split_and_fold(tmp_path):
    make_breakhis(tmp_path / "bh", patients_per_class=8, mags=(40, 400), per_mag=2, size=(24, 16))
    rec = prepare(resolve("smoke", "breakhis", tmp_path / "bh", tmp_path / "runs"), progress=False, verbose=False)
    assert rec["patient"].nunique() == 16 and set(rec["split"]) == {"train", "val", "test"}
    assert (rec.groupby("patient")["split"].nunique() == 1).all()
    assert (rec.groupby("patient")["fold"].nunique() == 1).all()


def test_data_download_breakhis_needs_from(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("data_download", Path(__file__).parents[1] / "data_download.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(["breakhis", "--dest", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: breakhis needs --from") and "\n" not in err
    assert cli.main(["minimias", "--from", str(tmp_path / "none.tar.gz"), "--dest", str(tmp_path / "m")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_an_archive_in_the_wrong_layout_leaves_nothing_behind(archives, tmp_path):
    """It used to leave BreaKHis_v1/ holding only the completion marker, and the right archive
    was then skipped as "already complete"."""
    from helpers.data.extract import MARKER

    src, tgz, _ = archives
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as zf:
        for k, p in enumerate(sorted(src.rglob("*.png"))[:4]):
            zf.write(p, f"stuff/{'benign' if k % 2 else 'malignant'}/img{k}.png")
    dest = tmp_path / "d"
    with pytest.raises(DataError, match=f"{wrong} is not a usable copy: .*Nothing was kept in") as err:
        bh.fetch_breakhis(dest, from_path=wrong, progress=False)
    assert "\n" not in str(err.value)
    assert not (dest / bh.FOLDER).exists()
    assert bh.fetch_breakhis(dest, from_path=tgz, progress=False)["patients"] == 4
    # a folder left holding only the marker (by an earlier version) is not complete: it is redone
    stuck = tmp_path / "stuck"
    (stuck / bh.FOLDER).mkdir(parents=True)
    (stuck / bh.FOLDER / MARKER).write_text("{}")
    assert bh.fetch_breakhis(stuck, from_path=tgz, progress=False)["patients"] == 4


def test_an_archive_with_images_in_the_other_class_folder_is_refused_whole(archives, tmp_path):
    src, _, _ = archives
    swapped = tmp_path / "swapped.tar"
    with tarfile.open(swapped, "w") as tf:
        for p in sorted(src.rglob("*.png")):
            rel = p.relative_to(src).as_posix()
            tf.add(p, rel.replace("/benign/", "/malignant/", 1) if "SOB_B_" in p.name else rel)
    with pytest.raises(DataError, match="is named benign but lies in a folder of the other class"):
        bh.fetch_breakhis(tmp_path / "d", from_path=swapped, progress=False)
    assert not (tmp_path / "d" / bh.FOLDER).exists()
