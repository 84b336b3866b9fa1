"""Resumable, verified downloads and safe zip extraction, against a local HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import urllib.error
import urllib.request
import zipfile

import pytest
from _local_http import LocalServer

from helpers.data import download as dl
from helpers.data import extract as zx
from helpers.data.download import ChecksumError, DownloadError, download
from helpers.data.extract import MARKER, is_complete, safe_extract

DATA = os.urandom(300_000)
MD5 = hashlib.md5(DATA).hexdigest()
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(dl, "RETRY_WAIT", 0.0)


@pytest.fixture
def server():
    with LocalServer() as s:
        s.files["/data.bin"] = DATA
        yield s


def test_download_verifies_and_renames(server, tmp_path):
    out = download(server.url("/data.bin"), tmp_path / "data.bin", size=len(DATA), md5=MD5, sha256=SHA,
                   progress=False)
    assert out.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]  # no .part, no .part.json


def test_cut_connection_resumes_with_range_in_the_same_call(server, tmp_path):
    server.cut_after, server.cuts_left = 100_000, 1
    out = download(server.url("/data.bin"), tmp_path / "data.bin", md5=MD5, progress=False)
    assert out.read_bytes() == DATA
    assert server.requests == [("/data.bin", None), ("/data.bin", "bytes=100000-")]


def test_cut_download_is_kept_and_resumed_by_the_next_run(server, tmp_path):
    server.cut_after, server.cuts_left = 120_000, 1
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="run the same command again"):
        download(server.url("/data.bin"), dest, md5=MD5, retries=0, progress=False)
    assert not dest.exists()
    assert (tmp_path / "data.bin.part").read_bytes() == DATA[:120_000]
    download(server.url("/data.bin"), dest, md5=MD5, retries=0, progress=False)
    assert dest.read_bytes() == DATA
    assert server.requests[-1] == ("/data.bin", "bytes=120000-")
    assert not (tmp_path / "data.bin.part").exists()


def test_connection_error_is_retried_from_where_it_stopped(server, tmp_path):
    server.cut_after, server.cuts_left = 70_000, 1
    calls = []

    def flaky(req, timeout):  # the second request dies before any byte arrives
        calls.append(req.get_header("Range"))
        if len(calls) == 2:
            raise ConnectionResetError(104, "Connection reset by peer")
        return urllib.request.urlopen(req, timeout=timeout)

    out = download(server.url("/data.bin"), tmp_path / "data.bin", md5=MD5, opener=flaky, progress=False)
    assert out.read_bytes() == DATA
    assert calls == [None, "bytes=70000-", "bytes=70000-"]


def test_persistent_connection_errors_give_up_with_advice(tmp_path):
    calls = []

    def broken(req, timeout):
        calls.append(req)
        raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(DownloadError, match="reset by peer. Run the same command again to resume"):
        download("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", retries=2, opener=broken, progress=False)
    assert len(calls) == 3


def test_unreachable_host_fails_at_once_with_advice(tmp_path):
    calls = []

    def offline(req, timeout):  # what urlopen raises when the name does not resolve (no DNS query here)
        calls.append(req)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    with pytest.raises(DownloadError, match="Cannot reach no-such-host.invalid.*--from"):
        download("http://no-such-host.invalid/x.zip", tmp_path / "x.zip", opener=offline, progress=False)
    assert len(calls) == 1 and list(tmp_path.iterdir()) == []


def test_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    server.ignore_range = True
    dest = tmp_path / "data.bin"
    # A partial file whose bytes would corrupt the result if the full body were appended.
    (tmp_path / "data.bin.part").write_bytes(b"\0" * 50_000)
    (tmp_path / "data.bin.part.json").write_text(json.dumps({'url': server.url("/data.bin")}))
    download(server.url("/data.bin"), dest, md5=MD5, progress=False)
    assert server.requests == [("/data.bin", "bytes=50000-")]
    assert dest.read_bytes() == DATA


def test_partial_file_already_complete_is_accepted_on_416(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(DATA)
    (tmp_path / "data.bin.part.json").write_text(json.dumps({'url': server.url("/data.bin")}))
    download(server.url("/data.bin"), tmp_path / "data.bin", md5=MD5, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == DATA
    assert server.requests == [("/data.bin", f"bytes={len(DATA)}-")]


def test_partial_file_from_another_url_is_not_continued(server, tmp_path):
    server.files["/other.bin"] = b"x" * 1000
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
    (tmp_path / "data.bin.part.json").write_text(json.dumps({'url': server.url("/other.bin")}))
    download(server.url("/data.bin"), tmp_path / "data.bin", md5=MD5, progress=False)
    assert server.requests == [("/data.bin", None)]
    assert (tmp_path / "data.bin").read_bytes() == DATA


def test_checksum_mismatch_names_file_and_digests_and_keeps_nothing(server, tmp_path):
    wrong = "0" * 32
    with pytest.raises(ChecksumError) as e:
        download(server.url("/data.bin"), tmp_path / "data.bin", md5=wrong, progress=False)
    msg = str(e.value)
    assert "data.bin" in msg and wrong in msg and MD5 in msg and "--from" in msg
    assert list(tmp_path.iterdir()) == []


def test_sha256_mismatch_is_caught_too(server, tmp_path):
    with pytest.raises(ChecksumError, match="SHA256"):
        download(server.url("/data.bin"), tmp_path / "data.bin", sha256="f" * 64, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_expected_size_differs_from_server(server, tmp_path):
    with pytest.raises(DownloadError, match=f"{len(DATA)} bytes on the server, expected {len(DATA) + 5}"):
        download(server.url("/data.bin"), tmp_path / "data.bin", size=len(DATA) + 5, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_short_body_never_becomes_the_file(server, tmp_path):
    # The server announces the full length but keeps dropping the connection.
    server.cut_after, server.cuts_left = 10_000, 99
    with pytest.raises(DownloadError, match="stopped at"):
        download(server.url("/data.bin"), tmp_path / "data.bin", retries=2, progress=False)
    assert not (tmp_path / "data.bin").exists()
    assert (tmp_path / "data.bin.part").stat().st_size == 30_000  # three cut responses, appended


def test_verified_file_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "data.bin"
    download(server.url("/data.bin"), dest, md5=MD5, progress=False)
    download(server.url("/data.bin"), dest, md5=MD5, progress=False)
    assert len(server.requests) == 1


def test_damaged_existing_file_is_fetched_again(server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(DATA[:-1] + bytes([DATA[-1] ^ 0xFF]))  # the last byte changed (DATA is random: never "the same")
    download(server.url("/data.bin"), dest, md5=MD5, progress=False)
    assert dest.read_bytes() == DATA and len(server.requests) == 1


def test_http_error_is_one_clear_message(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/missing.zip"), tmp_path / "x.zip", progress=False)


# ------------------------------------------------------------------ zip extraction


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, name)
            else:
                zf.writestr(name, data)
    return path


def _symlink_entry(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("bad", ["../x.txt", "a/../../x.txt", "/tmp/abs_x.txt", "C:/x.txt", "..\\x.txt"])
def test_entry_escaping_the_target_is_refused_and_nothing_extracted(tmp_path, bad):
    arc = _zip(tmp_path / "evil.zip", {"ok/a.txt": b"fine", bad: b"escaped"})
    target = tmp_path / "out" / "data"
    with pytest.raises(DownloadError) as e:
        safe_extract(arc, target, progress=False)
    assert repr(bad) in str(e.value) and "nothing was extracted" in str(e.value)
    assert not (tmp_path / "out").exists()  # not even the temporary folder
    assert not (tmp_path / "x.txt").exists() and not os.path.exists("/tmp/abs_x.txt")


def test_symlink_entry_is_refused(tmp_path):
    arc = tmp_path / "link.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr(_symlink_entry("link"), "/etc/passwd")
    with pytest.raises(DownloadError, match="'link' is a symbolic link"):
        safe_extract(arc, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_extraction_publishes_complete_folder_and_reruns_skip(tmp_path, monkeypatch):
    arc = _zip(tmp_path / "a.zip", {"top/sub/a.txt": b"A", "top/b.txt": b"B"})
    target = tmp_path / "out"
    safe_extract(arc, target, progress=False)
    assert (target / "top" / "sub" / "a.txt").read_bytes() == b"A"
    assert is_complete(target)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # temp folder gone
    monkeypatch.setattr(zx.zipfile, "ZipFile", None)  # a re-run must not even open the archive
    assert safe_extract(arc, target, progress=False) == target


def test_select_promotes_a_sub_folder(tmp_path):
    arc = _zip(tmp_path / "a.zip", {"wrap/inner/x.txt": b"X", "__MACOSX/junk": b"J"})
    target = tmp_path / "out"
    safe_extract(arc, target, select=lambda tmp: tmp / "wrap" / "inner", progress=False)
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "x.txt"]


def test_interrupted_extraction_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    arc = _zip(tmp_path / "a.zip", {f"f{i}.txt": b"x" * 10 for i in range(5)})
    target = tmp_path / "out"
    calls = {"n": 0}
    real = shutil.copyfileobj

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(zx.shutil, "copyfileobj", failing)
    with pytest.raises(KeyboardInterrupt):
        safe_extract(arc, target, progress=False)
    assert not target.exists()
    monkeypatch.setattr(zx.shutil, "copyfileobj", real)
    safe_extract(arc, target, progress=False)
    assert len(list(target.glob("f*.txt"))) == 5 and is_complete(target)


def test_unfinished_target_without_marker_is_not_trusted(tmp_path):
    arc = _zip(tmp_path / "a.zip", {"a.txt": b"A"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_bytes(b"half")
    with pytest.raises(DownloadError, match="not a finished extraction"):
        safe_extract(arc, tmp_path / "out", progress=False)


def test_corrupt_archive_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DownloadError, match="bad.zip"):
        safe_extract(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
