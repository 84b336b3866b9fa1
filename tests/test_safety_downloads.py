"""Downloads and copies that fail their checks never look finished, and say what happened."""

from __future__ import annotations

import zipfile

import pytest
from _local_http import LocalServer
from test_busi_fetch import make_official_tree, zip_tree

from helpers.data import busi_fetch as bf
from helpers.data import fetch
from helpers.data.download import DownloadError
from helpers.data.extract import MARKER, is_complete, safe_extract


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    make_official_tree(d / "tree")
    return zip_tree(d / "tree", d / "Dataset_BUSI.zip")


@pytest.mark.parametrize("served", ["html", "truncated"])
def test_a_bad_download_is_not_left_under_its_final_name(tmp_path, good_zip, served):
    body = b"<!DOCTYPE html><html><body>Please log in</body></html>" if served == "html" \
        else good_zip.read_bytes()[:-4000]
    with LocalServer() as s:
        s.files["/Dataset_BUSI.zip"] = body
        with pytest.raises(DownloadError, match="it was deleted|was deleted") as e:
            bf.fetch_busi(tmp_path, url=s.url("/Dataset_BUSI.zip"), progress=False)
        assert ("HTML page" in str(e.value)) == (served == "html")
        assert not (tmp_path / "Dataset_BUSI.zip").exists()
        assert not list(tmp_path.glob("*.part"))
        # the next run downloads again (no stale file reused) and succeeds once the server is fixed
        s.files["/Dataset_BUSI.zip"] = good_zip.read_bytes()
        res = bf.fetch_busi(tmp_path, url=s.url("/Dataset_BUSI.zip"), progress=False)
        assert res["counts"] == {"benign": 4, "malignant": 3, "normal": 2}


def test_a_stale_bad_archive_from_an_older_run_is_replaced(tmp_path, good_zip, capsys):
    (tmp_path / "Dataset_BUSI.zip").write_text("<html>an error page saved by an older version</html>")
    with LocalServer() as s:
        s.files["/Dataset_BUSI.zip"] = good_zip.read_bytes()
        bf.fetch_busi(tmp_path, url=s.url("/Dataset_BUSI.zip"), progress=False)
    assert "Deleting it and downloading Dataset_BUSI.zip again" in capsys.readouterr().out


def test_an_archive_that_fails_extraction_is_moved_aside(tmp_path, good_zip, monkeypatch):
    monkeypatch.setattr(fetch, "validate_archive", lambda p: None)  # a fault that only extraction finds
    bad = tmp_path / "src.zip"
    bad.write_bytes(good_zip.read_bytes()[:-4000])
    with LocalServer() as s:
        s.files["/Dataset_BUSI.zip"] = bad.read_bytes()
        with pytest.raises(DownloadError, match=r"renamed to .*Dataset_BUSI\.zip\.bad"):
            bf.fetch_busi(tmp_path / "d", url=s.url("/Dataset_BUSI.zip"), progress=False)
    assert (tmp_path / "d" / "Dataset_BUSI.zip.bad").exists() and not (tmp_path / "d" / "Dataset_BUSI.zip").exists()


def test_archive_bomb_entries_are_refused(tmp_path):
    arc = tmp_path / "bomb.zip"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("benign/benign (1).png", b"\0" * (4 << 20))  # 4 MiB of zeros: about 1000:1
    with pytest.raises(DownloadError, match=r"entry 'benign/benign \(1\)\.png' unpacks to 4,194,304 bytes .*:1"):
        safe_extract(arc, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_copy_with_a_corrupt_image_is_not_marked_complete(tmp_path):
    src = make_official_tree(tmp_path / "src")
    (src / "benign" / "benign (2).png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    dest = tmp_path / "dest"
    with pytest.raises(bf.DataError, match=r"benign \(2\)\.png.*Nothing was kept.*--skip-bad"):
        bf.fetch_busi(dest, from_path=src, progress=False)
    assert not is_complete(dest / bf.FOLDER) and not (dest / bf.FOLDER).exists()
    res = bf.fetch_busi(dest, from_path=src, progress=False, skip_bad=True)  # the advice works
    assert res["counts"]["benign"] == 3 and is_complete(dest / bf.FOLDER)
    assert (dest / bf.FOLDER / MARKER).read_text().count("benign (2).png") == 1  # listed as left out


def test_data_download_accepts_the_skip_bad_it_advises(tmp_path, capsys):
    import data_download

    src = make_official_tree(tmp_path / "src")
    (src / "normal" / "normal (1).png").write_bytes(b"not an image")
    args = ["busi", "--dest", str(tmp_path / "d"), "--from", str(src), "--quiet"]
    assert data_download.main(args) == 2
    assert "--skip-bad" in capsys.readouterr().err
    assert data_download.main(args + ["--skip-bad"]) == 0
