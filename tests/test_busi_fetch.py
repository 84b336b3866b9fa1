"""BUSI acquisition: official archive over (local) HTTP, --from archive/folder, count report."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _local_http import LocalServer
from PIL import Image

from helpers.data import DataError, load_records
from helpers.data import busi_fetch as bf
from helpers.data.download import DownloadError
from helpers.data.extract import MARKER, is_complete

COUNTS = {"benign": 4, "malignant": 3, "normal": 2}


def _png(path: Path, w: int, h: int, rgb: bool = True, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    img = Image.fromarray(a, "L")
    (img.convert("RGB") if rgb else img).save(path)  # BUSI stores grayscale scans as RGB


def make_official_tree(root: Path, counts=COUNTS) -> Path:
    """`root/Dataset_BUSI_with_GT/<class>/<class> (i).png`, varied sizes, masks beside."""
    base = root / "Dataset_BUSI_with_GT"
    k = 0
    for cls, n in counts.items():
        for i in range(1, n + 1):
            k += 1
            w, h = 60 + 11 * k, 40 + 7 * (k % 5)
            _png(base / cls / f"{cls} ({i}).png", w, h, seed=k)
            _png(base / cls / f"{cls} ({i})_mask.png", w, h, rgb=False, seed=100 + k)
            if i == 1:  # a second lesion mask, as in the release
                _png(base / cls / f"{cls} ({i})_mask_1.png", w, h, rgb=False, seed=200 + k)
    return base


def zip_tree(tree_root: Path, arc: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(arc, "w") as zf:
        for p in sorted(tree_root.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(tree_root).as_posix())
    return arc


@pytest.fixture(scope="module")
def official_zip(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("busi_src")
    make_official_tree(d / "tree")
    return zip_tree(d / "tree", d / "Dataset_BUSI.zip")


@pytest.fixture
def server(official_zip):
    with LocalServer() as s:
        s.files["/Dataset_BUSI.zip"] = official_zip.read_bytes()
        yield s


def _check_read(data_dir: Path) -> None:
    df = load_records("busi", data_dir, progress=False)
    assert df["class_name"].value_counts().to_dict() == COUNTS
    assert not df["path"].str.contains("_mask").any()  # masks are never images
    assert df["width"].nunique() > 3  # varied sizes survived
    assert set(df.loc[df["path"].str.endswith("benign (1).png"), "n_masks"]) == {2}


def test_fetch_from_url_extracts_official_layout_and_reports_counts(server, tmp_path):
    dest = tmp_path / "busi"
    res = bf.fetch_busi(dest, url=server.url("/Dataset_BUSI.zip"), progress=False)
    target = dest / "Dataset_BUSI_with_GT"
    assert is_complete(target) and (target / "benign" / "benign (1)_mask_1.png").exists()
    assert (dest / "Dataset_BUSI.zip").exists()  # kept for a re-extraction
    assert res["data_dir"] == dest and res["counts"] == COUNTS and not res["matches"]
    _check_read(dest)
    rep = res["report"]
    assert "WARNING: class counts differ" in rep
    assert "benign          4       437   -433" in rep and "total           9       780   -771" in rep
    assert "3 of 9 images have a mask" not in rep and "9 of 9 images have a mask" in rep


def test_rerun_skips_download_and_extraction(server, tmp_path, capsys):
    dest = tmp_path / "busi"
    bf.fetch_busi(dest, url=server.url("/Dataset_BUSI.zip"), progress=False)
    n = len(server.requests)
    (dest / "Dataset_BUSI.zip").unlink()  # even without the archive, a finished folder counts
    res = bf.fetch_busi(dest, url=server.url("/Dataset_BUSI.zip"), progress=False)
    assert len(server.requests) == n and res["counts"] == COUNTS
    assert "already complete" in capsys.readouterr().out


def test_downloaded_archive_is_reused_when_only_extraction_is_missing(server, tmp_path):
    bf.fetch_busi(tmp_path, url=server.url("/Dataset_BUSI.zip"), progress=False)
    shutil.rmtree(tmp_path / "Dataset_BUSI_with_GT")
    res = bf.fetch_busi(tmp_path, url=server.url("/Dataset_BUSI.zip"), progress=False)
    assert len(server.requests) == 1 and res["counts"] == COUNTS


def test_remove_archive_after_extraction(server, tmp_path):
    bf.fetch_busi(tmp_path, url=server.url("/Dataset_BUSI.zip"), keep_archive=False, progress=False)
    assert not (tmp_path / "Dataset_BUSI.zip").exists() and is_complete(tmp_path / "Dataset_BUSI_with_GT")


def test_counts_matching_the_release_say_so(server, tmp_path, monkeypatch):
    monkeypatch.setattr(bf, "EXPECTED_COUNTS", dict(COUNTS))
    res = bf.fetch_busi(tmp_path, url=server.url("/Dataset_BUSI.zip"), progress=False)
    assert res["matches"] and "match the official release" in res["report"]
    assert "WARNING" not in res["report"]


def test_count_report_lists_each_difference():
    rep = bf.count_report({"benign": 437, "malignant": 208, "normal": 135}, bf.EXPECTED_COUNTS)
    assert "malignant     208       210     -2" in rep and "normal        135       133     +2" in rep
    assert "total         780       780     +0" in rep and "WARNING" in rep


def test_from_archive_with_other_wrapper(official_zip, tmp_path):
    # e.g. Kaggle's archive.zip, or a copy someone zipped with an extra folder around it
    src = tmp_path / "src"
    with zipfile.ZipFile(official_zip) as zf:
        zf.extractall(src)
    arc = zip_tree(src / "Dataset_BUSI_with_GT", tmp_path / "archive.zip", prefix="archive/busi copy/")
    res = bf.fetch_busi(tmp_path / "busi", from_path=arc, progress=False)
    assert (tmp_path / "busi" / "Dataset_BUSI_with_GT" / "malignant" / "malignant (3).png").exists()
    _check_read(res["data_dir"])


def test_from_folder_copies_or_uses_in_place(tmp_path):
    src = make_official_tree(tmp_path / "mine")
    res = bf.fetch_busi(tmp_path / "busi", from_path=tmp_path / "mine", progress=False)
    assert is_complete(tmp_path / "busi" / "Dataset_BUSI_with_GT")
    _check_read(res["data_dir"])
    res = bf.fetch_busi(tmp_path / "unused", from_path=src, in_place=True, progress=False)
    assert res["data_dir"] == src and not (tmp_path / "unused").exists()
    assert not (src / MARKER).exists()  # the user's folder is left untouched


def test_resized_layout_folder_without_masks(tmp_path):
    src = tmp_path / "busi-256"
    for k, (cls, n) in enumerate(COUNTS.items()):
        for i in range(1, n + 1):
            _png(src / cls / f"{cls} ({i}).png", 32, 32, seed=10 * k + i)
    res = bf.fetch_busi(tmp_path / "busi", from_path=src, progress=False)
    assert res["counts"] == COUNTS and "mask" not in res["report"]


def test_archive_missing_a_class_is_an_error_naming_it(tmp_path):
    tree = make_official_tree(tmp_path / "t")
    shutil.rmtree(tree / "normal")
    arc = zip_tree(tmp_path / "t", tmp_path / "partial.zip")
    with pytest.raises(DataError, match="normal"):
        bf.fetch_busi(tmp_path / "busi", from_path=arc, progress=False)


def test_escaping_entry_in_user_archive_is_refused(tmp_path, official_zip):
    arc = tmp_path / "evil.zip"
    shutil.copy(official_zip, arc)
    with zipfile.ZipFile(arc, "a") as zf:
        zf.writestr("../../outside.png", b"x")
    with pytest.raises(DownloadError, match="outside.png"):
        bf.fetch_busi(tmp_path / "busi", from_path=arc, progress=False)
    assert not (tmp_path / "busi").exists() and not (tmp_path / "outside.png").exists()


def test_from_path_that_is_neither_archive_nor_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="neither a zip/tar archive nor a folder"):
        bf.fetch_busi(tmp_path / "busi", from_path=tmp_path / "notes.txt", progress=False)
    with pytest.raises(DataError, match="no such file or folder"):
        bf.fetch_busi(tmp_path / "busi", from_path=tmp_path / "nope.zip", progress=False)


def test_archive_without_class_folders(tmp_path):
    arc = tmp_path / "other.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("cats/cat1.png", b"x")
    with pytest.raises(DataError, match="No class folders"):
        bf.fetch_busi(tmp_path / "busi", from_path=arc, progress=False)
    assert not (tmp_path / "busi" / "Dataset_BUSI_with_GT").exists()
