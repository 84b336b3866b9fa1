"""mini-MIAS: Info.txt parsing, the release fetched over (local) HTTP or --from, safe tar
extraction, the mammogram crop and alignment, and patient groups that no split breaks."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest
from _local_http import LocalServer
from PIL import Image
from scipy import ndimage

from helpers.config import resolve
from helpers.data import DataError, load_records
from helpers.data import minimias as mm
from helpers.data.download import DownloadError
from helpers.data.duplicates import find_groups
from helpers.data.extract import MARKER, is_complete, safe_extract, validate_archive
from helpers.data.mammo import breast_mask, crop_breast, load_mammogram
from helpers.data.preprocess import load_images
from helpers.prepare import prepare

LABEL = 255  # the film label's grey level; breast tissue stays below 220


def mammogram(size=96, right=False, seed=0, label=True) -> np.ndarray:
    """A breast against the chest wall (left edge), textured, on a noisy black film, with a
    bright rectangular label in the far corner; `right` mirrors it (a right breast)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(float)
    cy, ry, rx = size * rng.uniform(0.45, 0.55), size * rng.uniform(0.3, 0.45), size * rng.uniform(0.3, 0.5)
    inside = (x / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    tissue = 140 + 60 * ndimage.gaussian_filter(rng.normal(size=(size, size)), 2) / 0.15
    img = np.where(inside, np.clip(tissue, 60, 215), rng.integers(0, 4, (size, size))).astype(np.uint8)
    if label:
        img[3:3 + size // 8, size - size // 4:size - 3] = LABEL
    return img[:, ::-1].copy() if right else img


# --- Info.txt -----------------------------------------------------------------------------
HEADER = ("              MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY\r\n\r\n1st column: MIAS database reference number.\r\n"
          "5th,6th columns: x,y image-coordinates of centre of abnormality.\r\n\r\n")
ABNORMAL = {1: ["G CIRC B 535 425 197"], 4: ["F CIRC B 477 133 30", "F CIRC B 500 168 26"],
            5: ["D CALC M *NOTE 3*"], 7: ["G CIRC B"], 10: ["G MISC B 10 20 30", "G MISC M 40 50 60"]}


def info_text(n_images: int, abnormal=ABNORMAL) -> str:
    lines = []
    for n in range(1, n_images + 1):
        lines += [f"mdb{n:03d} {e}" for e in abnormal.get(n, ["D NORM "])]
    return HEADER + "\r\n".join(lines) + "\r\n\r\n=====\r\n"


def make_release(root, n_images=12, size=96, fmt="pgm", images_dir=False):
    """A MIAS release: flat mdbNNN.pgm (or images/mdbNNN.png), Info.txt, README, Licence.txt."""
    folder = root / "images" if images_dir else root
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, n_images + 1):
        Image.fromarray(mammogram(size, right=n % 2 == 1, seed=n), "L").save(folder / f"mdb{n:03d}.{fmt}")
    (root / "Info.txt").write_bytes(info_text(n_images).encode())
    (root / "README").write_text("MIAS readme")
    (root / "Licence.txt").write_text("research use only")
    return root


def tar_folder(folder, arc, prefix=""):
    with tarfile.open(arc, "w:gz") as tf:
        for p in sorted(folder.rglob("*")):
            tf.add(p, prefix + p.relative_to(folder).as_posix(), recursive=False)
    return arc


def test_info_parsing_lines_and_images(tmp_path):
    (tmp_path / "Info.txt").write_bytes(info_text(12).encode())
    lines = mm.parse_info(tmp_path / "Info.txt")
    assert len(lines) == 14 and lines["ref"].nunique() == 12  # several lines for one image
    note3 = lines[lines["ref"] == "mdb005"].iloc[0]
    assert note3["severity"] == "M" and pd.isna(note3["x"])  # *NOTE 3*: no coordinates
    assert pd.isna(lines[lines["ref"] == "mdb007"].iloc[0]["radius"])
    t = mm.image_table(lines).set_index("ref")
    assert t["class_name"].value_counts().to_dict() == {"normal": 7, "abnormal": 5}
    assert t.loc["mdb010", "severity"] == "B;M" and t.loc["mdb004", "n_lines"] == 2
    assert t.loc["mdb004", "abnormality"] == "CIRC" and t.loc["mdb001", "x"] == 535
    # left/right films of one woman: 1+2, 3+4, ...; odd numbers are right breasts
    assert list(t["patient"][:4]) == [1, 1, 2, 2] and list(t["side"][:2]) == ["R", "L"]


def test_info_with_a_bad_data_line_names_it(tmp_path):
    (tmp_path / "Info.txt").write_text(info_text(3).replace("mdb002 D NORM", "mdb002 X NORM"))
    with pytest.raises(DataError, match=r"Info.txt, line 7: 'mdb002 X NORM'"):
        mm.parse_info(tmp_path / "Info.txt")


# --- the release on disk --------------------------------------------------------------------
@pytest.fixture(scope="module")
def release_tar(tmp_path_factory):
    d = tmp_path_factory.mktemp("mias")
    make_release(d / "src")
    return tar_folder(d / "src", d / "all-mias.tar.gz")


def _check_converted(dest, src):
    target = dest / mm.FOLDER
    assert is_complete(target) and (target / "Info.txt").read_bytes() == (src / "Info.txt").read_bytes()
    assert (target / "docs" / "Licence.txt").exists()
    png = np.asarray(Image.open(target / "images" / "mdb003.png"))
    assert png.shape == (96, 96) and np.array_equal(png, np.asarray(Image.open(src / "mdb003.pgm")))
    df = load_records("minimias", dest, progress=False)
    assert df["class_name"].value_counts().to_dict() == {"normal": 7, "abnormal": 5}
    assert set(df.columns) >= {"path", "label", "class_name", "group", "source", "tissue", "abnormality", "severity",
                               "patient"}
    assert (df.groupby("patient").size() == 2).all() and (df["group"] == df["patient"]).all()


def test_fetch_over_http_converts_and_reruns_without_network(release_tar, tmp_path, capsys):
    src = tmp_path / "src"
    with tarfile.open(release_tar) as tf:
        tf.extractall(src, filter="data")
    with LocalServer() as s:
        s.files["/pix/mias/all-mias.tar.gz"] = release_tar.read_bytes()
        res = mm.fetch_minimias(tmp_path / "d", url=s.url("/pix/mias/all-mias.tar.gz"), progress=False)
        _check_converted(tmp_path / "d", src)
        assert res["counts"] == {"normal": 7, "abnormal": 5} and res["patients"] == 6 and not res["matches"]
        assert "WARNING: counts differ" in res["report"] and "CIRC 3, CALC 1, MISC 1" in res["report"]
        assert not (tmp_path / "d" / ".all-mias-raw").exists()  # the raw extraction is removed
        n = len(s.requests)
        mm.fetch_minimias(tmp_path / "d", url=s.url("/pix/mias/all-mias.tar.gz"), progress=False)
        assert len(s.requests) == n and "already complete" in capsys.readouterr().out


def test_from_archive_folder_and_in_place(release_tar, tmp_path):
    src = tmp_path / "src"
    with tarfile.open(release_tar) as tf:
        tf.extractall(src, filter="data")
    mm.fetch_minimias(tmp_path / "a", from_path=release_tar, progress=False)
    _check_converted(tmp_path / "a", src)
    mm.fetch_minimias(tmp_path / "b", from_path=src, progress=False)  # a folder of PGMs is converted
    _check_converted(tmp_path / "b", src)
    # a resized copy (images/mdbNNN.png beside Info.txt, e.g. /work/shared's) is read where it is
    small = make_release(tmp_path / "small", size=64, fmt="png", images_dir=True)
    res = mm.fetch_minimias(tmp_path / "unused", from_path=small, in_place=True, progress=False)
    assert res["data_dir"] == small and not (tmp_path / "unused").exists() and not (small / MARKER).exists()
    with pytest.raises(DataError, match="PGM files: convert them"):
        mm.fetch_minimias(tmp_path / "c", from_path=src, in_place=True, progress=False)


def test_missing_image_is_named_or_skipped(tmp_path):
    root = make_release(tmp_path / "r", fmt="png", images_dir=True)
    (root / "images" / "mdb004.png").unlink()
    with pytest.raises(DataError, match=r"1 of 12 images .* missing .*images/mdb004.png"):
        load_records("minimias", root, progress=False)
    df = mm.read_minimias(root, skip_bad=True, progress=False)
    assert len(df) == 11 and df.attrs["skipped"][0].endswith("mdb004.png")
    with pytest.raises(DataError, match="No Info.txt"):
        load_records("minimias", tmp_path / "r" / "images", progress=False)


def test_html_page_or_cut_download_is_not_kept(release_tar, tmp_path):
    with LocalServer() as s:
        s.files["/all-mias.tar.gz"] = b"<!DOCTYPE html><html>moved</html>"
        with pytest.raises(DownloadError, match="HTML page"):
            mm.fetch_minimias(tmp_path, url=s.url("/all-mias.tar.gz"), progress=False)
        s.files["/all-mias.tar.gz"] = release_tar.read_bytes()[:-3000]
        with pytest.raises(DownloadError, match="damaged|not a tar"):
            mm.fetch_minimias(tmp_path, url=s.url("/all-mias.tar.gz"), progress=False)
    assert not (tmp_path / "all-mias.tar.gz").exists() and not (tmp_path / mm.FOLDER).exists()


# --- tar safety -----------------------------------------------------------------------------
def _evil_tar(path, kind):
    with tarfile.open(path, "w:gz") as tf:
        data = b"x" * 10
        info = tarfile.TarInfo("ok.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        bad = tarfile.TarInfo({"dotdot": "../../outside.txt", "absolute": "/tmp/abs.txt"}.get(kind, "bad"))
        if kind in ("dotdot", "absolute"):
            bad.size = len(data)
            tf.addfile(bad, io.BytesIO(data))
            return path
        bad.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE,
                    "fifo": tarfile.FIFOTYPE}[kind]
        bad.linkname = "/etc/passwd"
        tf.addfile(bad)
    return path


@pytest.mark.parametrize("kind, message", [("dotdot", "climbs out"), ("absolute", "absolute path"),
                                           ("symlink", "is a link"), ("hardlink", "is a link"),
                                           ("device", "special file"), ("fifo", "special file")])
def test_unsafe_tar_entries_are_refused(tmp_path, kind, message):
    arc = _evil_tar(tmp_path / "evil.tar.gz", kind)
    with pytest.raises(DownloadError, match=message):
        safe_extract(arc, tmp_path / "out", progress=False)
    with pytest.raises(DownloadError, match=message):
        validate_archive(arc)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    assert not (tmp_path.parent / "outside.txt").exists()


def test_tar_bomb_is_refused_before_it_is_unpacked(tmp_path):
    arc = tmp_path / "bomb.tar.gz"
    with tarfile.open(arc, "w:gz") as tf:
        info = tarfile.TarInfo("zeros.pgm")
        info.size = 30 << 20  # 30 MB of zeros: ~30 kB compressed, ~1000:1
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(DownloadError, match=r"over 100:1"):
        safe_extract(arc, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --- mammogram preprocessing ----------------------------------------------------------------
def test_crop_drops_the_label_and_the_background():
    img = mammogram(128, seed=3)
    assert (img == LABEL).sum() > 100
    out = crop_breast(img)
    assert out.max() < LABEL and out.shape[0] == out.shape[1]  # the label is gone, the result square
    mask = breast_mask(img)
    assert not mask[3:3 + 16, 96:125].any()  # the label's corner is not breast
    inside = mammogram(128, seed=3, label=False) > 50
    assert (mask & inside).sum() >= 0.97 * inside.sum()  # the breast is kept
    assert (out > 50).mean() > 0.25  # cropped tightly: mostly breast, not film


def test_left_and_right_breasts_are_aligned_to_the_left():
    left, right = mammogram(128, seed=4), mammogram(128, seed=4, right=True)
    a, b = crop_breast(left), crop_breast(right)
    assert np.array_equal(a, b)  # a right breast is mirrored onto the left one
    h = a.shape[0]
    assert (a[h // 4: 3 * h // 4, :3] > 50).mean() > 0.9  # the chest wall on the left edge
    assert (a[h // 4: 3 * h // 4, -3:] > 50).mean() < 0.1


def test_load_images_applies_the_mammogram_reader(tmp_path):
    root = make_release(tmp_path / "r", n_images=4, fmt="png", images_dir=True)
    df = load_records("minimias", root, progress=False)
    x = load_images(df, 32, tmp_path / "cache", progress=False)
    want = np.stack([load_mammogram(p, 32) for p in df["path"]])
    assert np.array_equal(x, want) and (x < LABEL).all()
    assert np.array_equal(load_images(df, 32, tmp_path / "cache", progress=False), want)  # from the cache
    busi = load_images(df.assign(source="busi"), 32, None, progress=False)
    assert (busi == LABEL).any()  # other sources are read as they are


# --- patients stay whole ----------------------------------------------------------------------
def _no_patient_straddles(rec):
    assert (rec.groupby("patient")["split"].nunique() == 1).all()
    assert (rec.groupby("patient")["fold"].nunique() == 1).all()


def test_near_duplicates_merge_into_patient_groups():
    rng = np.random.default_rng(0)
    thumbs = rng.normal(size=(6, 32, 32))
    thumbs[4] = thumbs[1]  # patient 3's first film is a near-twin of patient 1's second
    rec = pd.DataFrame(dict(path=[f"{i}.png" for i in range(6)], class_name="normal", label=0, group=range(6),
                            source="minimias", patient=[1, 1, 2, 2, 3, 3]))
    out, rep = find_groups(rec, thumbs, 0.97)
    g = out["group"].to_numpy()
    assert g[0] == g[1] == g[4] == g[5] and g[2] == g[3] and g[2] != g[0]
    assert rep.n_pairs == 1 and rep.n_patients == 3 and "3 patients" in rep.summary()
    no_patients, _ = find_groups(rec.drop(columns="patient"), thumbs, 0.97)
    assert no_patients["group"].nunique() == 5  # without patients: only the near-twins join


def test_prepare_keeps_each_patient_in_one_split_and_fold(tmp_path):
    root = make_release(tmp_path / "r", n_images=48, size=64, fmt="png", images_dir=True)
    abnormal = {n: ["G CIRC B 1 2 3"] for n in range(1, 49) if n % 3 == 0 or n % 5 == 0}
    (root / "Info.txt").write_bytes(info_text(48, abnormal).encode())
    cfg = resolve("smoke", "minimias", root, tmp_path / "runs")
    assert cfg.dup_threshold == 0.995 and resolve("smoke", "busi", root).dup_threshold == 0.97
    rec = prepare(cfg, progress=False, verbose=False)
    assert rec["patient"].nunique() == 24 and set(rec["split"]) == {"train", "val", "test"}
    _no_patient_straddles(rec)


def test_real_minimias_counts_and_patient_splits(minimias_dir, tmp_path):
    df = load_records("minimias", minimias_dir, check=False, progress=False)
    assert df["class_name"].value_counts().to_dict() == {"normal": 207, "abnormal": 115}
    assert df["patient"].nunique() == 161 and "Counts match the MIAS release" in mm.count_report(df)
    rec = prepare(resolve("quick", "minimias", minimias_dir, tmp_path / "runs"), progress=False, verbose=False)
    _no_patient_straddles(rec)
    x = load_images(rec.head(8), 64, None, progress=False)
    assert x.shape == (8, 64, 64) and (x[:, 16:48, :4] > 20).mean() > 0.8  # chest walls on the left
