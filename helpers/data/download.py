"""Fetching files safely: resumable HTTP(S) downloads and zip extraction that cannot escape.

Downloads stream into `<file>.part` with a progress bar. A cut download resumes with a
`Range` request (a server that ignores it is detected and the file restarts cleanly); the
size and, when known, the MD5/SHA-256 digest are checked before the file is renamed into
place, so a file under its final name is always complete and verified.

A download may also be checked for what it holds (`validate`, e.g. "is a readable zip"):
a file that fails is never left under its final name, so a rerun fetches it again instead
of failing the same way on the same bad file.

Extraction checks every entry first (no absolute paths, no `..`, no links, no entry larger
than MAX_ENTRY_BYTES or compressed more than MAX_RATIO:1, no more than MAX_TOTAL_BYTES in
all), writes into a temporary sibling folder, optionally checks each file (`check`, e.g. that
an image decodes), and renames the folder into place with a completion marker only once
everything is out and checked: a half-extracted or damaged folder never looks finished.
Re-running either step skips work that is already done.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from helpers.data.records import DataError

CHUNK = 1 << 20
USER_AGENT = "breast-synth-course/0.1 (+data_download.py)"
MARKER = ".complete.json"
RETRY_WAIT = 1.0  # seconds, times the attempt number, after a connection error
# Extraction limits against archive bombs. Image datasets compress little (PNG/JPEG ~1:1,
# raw PGM/BMP rarely beyond 20:1); an entry packed 100 times or more is refused.
MAX_RATIO = 100
RATIO_FLOOR = 64 * 1024  # entries smaller than this are too small to matter
MAX_ENTRY_BYTES = 4 << 30
MAX_TOTAL_BYTES = 64 << 30
# Errors worth another attempt: the connection broke, the server hiccupped.
_TRANSIENT = (ConnectionError, TimeoutError, urllib.error.URLError, http.client.HTTPException)


class DownloadError(DataError):
    """A download or extraction failed; the message names the file and what to do next."""


class ChecksumError(DownloadError):
    pass


def file_digest(path: str | Path, algo: str = "md5") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, size: int | None = None, md5: str | None = None,
                sha256: str | None = None, what: str = "", advice: str = "") -> None:
    """Raise DownloadError (ChecksumError for a digest) unless `path` has the expected size
    and digests. `advice` (what to do next) ends the message."""
    path = Path(path)
    what = what or str(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise DownloadError(f"{what}: size is {actual_size} bytes, expected {size}. {advice}".strip())
    for algo, want in (("md5", md5), ("sha256", sha256)):
        if want:
            got = file_digest(path, algo)
            if got.lower() != want.lower():
                raise ChecksumError(f"{what}: {algo.upper()} mismatch: expected {want.lower()}, got {got}. "
                                    f"{advice}".strip())


_AFTER_BAD_DOWNLOAD = ("The file is damaged or is not the expected release; it was deleted. Run the "
                       "command again; if it fails the same way, the file at the URL changed: check "
                       "--url, or fetch the file yourself and pass it with --from.")


def download(url: str, dest: str | Path, *, size: int | None = None, md5: str | None = None,
             sha256: str | None = None, retries: int = 3, timeout: float = 60, progress: bool = True,
             opener: Callable | None = None, validate: Callable[[Path], None] | None = None) -> Path:
    """Download `url` to `dest` (resuming `<dest>.part`) and verify it. Returns `dest`.

    `size`, `md5`, `sha256` are checked when given; otherwise the size the server announces
    (Content-Length) is checked. An existing `dest` that verifies is kept without any
    network access. `retries` is how many times a cut connection is resumed within this
    call; after that the partial file stays for the next run to resume. `validate(path)`
    raises DownloadError when the file's contents are not usable (checked on the finished
    download and on an existing `dest`).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            verify_file(dest, size, md5, sha256, what=str(dest))
            if validate:
                validate(dest)
            return dest
        except DownloadError as e:  # a stale or damaged copy: fetch it again
            print(f"{e} Deleting it and downloading {dest.name} again.")
            dest.unlink()
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    _forget_other_url(part, meta, url)
    opener = opener or urllib.request.urlopen
    attempt = 0
    while True:
        try:
            total = _fetch_into(url, part, meta, size, timeout, progress, opener)
        except _TRANSIENT as e:
            if isinstance(e, urllib.error.HTTPError) and e.code not in (408, 429, 500, 502, 503, 504):
                raise DownloadError(f"Download of {url} failed: HTTP {e.code} {e.reason}. Check the "
                                    "URL (--url) or fetch the file yourself and pass it with --from.") from None
            have = part.stat().st_size if part.exists() else 0
            if isinstance(getattr(e, "reason", None), socket.gaierror):
                raise DownloadError(f"Cannot reach {urlparse(url).hostname} ({_reason(e)}). Check the "
                                    "network connection, or fetch the file on another machine and pass "
                                    "it with --from.") from None
            attempt += 1
            if attempt > retries:
                kept = f"{have} bytes are kept in {part}. " if have else ""
                raise DownloadError(
                    f"Download of {url} failed: {_reason(e)}. {kept}Run the same command again to "
                    "resume, or fetch the file yourself and pass it with --from.") from None
            print(f"Connection problem ({_reason(e)}); retrying (attempt {attempt}/{retries}).")
            time.sleep(RETRY_WAIT * attempt)
            continue
        if total is None or part.stat().st_size >= total:
            break
        # The server closed the connection early without an error: resume.
        attempt += 1
        if attempt > retries:
            raise DownloadError(
                f"Download of {url} stopped at {part.stat().st_size} of {total} bytes. The partial "
                f"file is kept in {part}; run the same command again to resume.")
        print(f"Connection cut at {part.stat().st_size} of {total} bytes; resuming "
              f"(attempt {attempt}/{retries}).")
    try:
        verify_file(part, size if size is not None else total, md5, sha256,
                    what=f"{dest.name} from {url}", advice=_AFTER_BAD_DOWNLOAD)
        if validate:
            try:
                validate(part)
            except DownloadError as e:
                raise DownloadError(f"{dest.name} from {url}: {e} {_AFTER_BAD_DOWNLOAD}") from None
    except DownloadError:
        part.unlink(missing_ok=True)  # nothing that looks finished, nothing to resume from
        meta.unlink(missing_ok=True)
        raise
    part.replace(dest)
    meta.unlink(missing_ok=True)
    return dest


def _reason(e: BaseException) -> str:
    return str(getattr(e, "reason", None) or e) or type(e).__name__


def _forget_other_url(part: Path, meta: Path, url: str) -> None:
    # A partial file from another URL must not be continued with this one's bytes.
    if part.exists():
        try:
            old = json.loads(meta.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("url") != url:
            part.unlink()
    elif meta.exists():
        meta.unlink()


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _fetch_into(url, part: Path, meta: Path, size, timeout, progress, opener) -> int | None:
    """One request: append to `part` from where it stops. Returns the full size if known."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = opener(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked past the end: the partial file may be complete
            m = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == have:
                return have
            part.unlink()  # unusable: start over on the next attempt
            raise ConnectionError("server refused to resume; restarting") from None
        raise
    with resp:
        status = getattr(resp, "status", 200)
        total = None
        if status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:  # not the bytes we asked for
                part.unlink()
                raise ConnectionError("server sent an unexpected byte range; restarting")
            total = int(m.group(3)) if m.group(3) != "*" else None
            mode = "ab"
        else:  # 200: the server ignored Range (or none was sent): start from zero
            if have:
                print(f"The server does not resume downloads; restarting {part.name} from zero.")
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url} is {total} bytes on the server, expected {size}. The "
                                "file changed or the URL points elsewhere; check --url.")
        meta.write_text(json.dumps({"url": url, "total": total}))
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=part.name[:-5], disable=not progress)
        with open(part, mode) as f, bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
    return total


# --------------------------------------------------------------------------- extraction


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def check_zip_entries(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    """All entries, after refusing any that would land outside the target folder or that
    unpack to far more than they take in the archive."""
    total = 0
    for info in zf.infolist():
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > MAX_ENTRY_BYTES or (info.file_size >= RATIO_FLOOR and ratio > MAX_RATIO):
            raise DownloadError(f"Refusing to extract {archive}: entry {info.filename!r} unpacks to "
                                f"{info.file_size:,} bytes from {info.compress_size:,} ({ratio:,.0f}:1; the limit is "
                                f"{MAX_RATIO}:1 and {MAX_ENTRY_BYTES >> 30} GiB per entry). Image datasets do not "
                                "compress like that: the archive is damaged or not the expected dataset; nothing "
                                "was extracted.")
        if total > MAX_TOTAL_BYTES:
            raise DownloadError(f"Refusing to extract {archive}: it unpacks to more than {MAX_TOTAL_BYTES >> 30} "
                                "GiB. It is not the expected dataset; nothing was extracted.")
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        bad = None
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            bad = "is an absolute path"
        elif ".." in parts:
            bad = "climbs out of the target folder with '..'"
        elif _is_link(info):
            bad = "is a symbolic link"
        if bad:
            raise DownloadError(f"Refusing to extract {archive}: entry {info.filename!r} {bad}. The "
                                "archive is damaged or not the expected dataset; nothing was extracted.")
    return zf.infolist()


def validate_zip(path: Path) -> None:
    """DownloadError unless `path` is a zip archive whose entries pass `check_zip_entries` and
    whose data are intact (CRC of every entry): catches an HTML page saved as the archive, a
    cut download, and an archive bomb, before anything is extracted."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(512).lstrip().lower()
        what = "an HTML page, not a zip archive" if head.startswith((b"<!doctype html", b"<html")) \
            else "not a zip archive (or a cut one)"
        raise DownloadError(f"it is {what}.")
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip_entries(zf, path)
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DownloadError(f"it is a damaged zip archive ({e}).") from None
    if bad is not None:
        raise DownloadError(f"it is a damaged zip archive (entry {bad!r} fails its CRC check).")


def _check_files(tmp: Path, check: Callable[[Path], None] | None, skip_bad: bool, progress: bool,
                 what: str) -> list[str]:
    """Run `check` on every file in `tmp`; a DataError removes the folder and stops, or with
    `skip_bad` deletes that file and lists it."""
    from tqdm.auto import tqdm

    if check is None:
        return []
    skipped = []
    files = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
    for p in tqdm(files, desc="checking images", unit="file", disable=not progress):
        try:
            check(p)
        except DataError as e:
            if not skip_bad:
                shutil.rmtree(tmp, ignore_errors=True)
                raise DataError(f"{e} Nothing was kept from {what}: fix or delete that file at the source, "
                                "or run again with --skip-bad to leave unreadable images out.") from None
            skipped.append(p.relative_to(tmp).as_posix())
            p.unlink()
    if skipped:
        print(f"Left out {len(skipped)} unreadable file(s), e.g. {skipped[0]}.")
    return skipped


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def read_marker(folder: str | Path) -> dict:
    return json.loads((Path(folder) / MARKER).read_text())


def publish_folder(tmp: Path, target: Path, info: dict) -> Path:
    """Write the completion marker into `tmp` and rename it to `target` (one step)."""
    (tmp / MARKER).write_text(json.dumps(info, indent=1))
    if target.exists():
        raise DownloadError(f"{target} already exists but was not made by this tool (no {MARKER}). "
                            "Delete it or choose another --dest.")
    tmp.replace(target)
    return target


def temp_sibling(target: Path) -> Path:
    """A fresh work folder beside `target` (a leftover from a crash is removed)."""
    tmp = target.with_name(f".{target.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _finished_or_free(target: Path, what: str) -> bool:
    """True when `target` holds a finished result; raises when a half-done one is in the way."""
    if is_complete(target):
        return True
    if target.exists():
        raise DownloadError(f"{target} exists but is not a finished {what} (no {MARKER}); it may be left "
                            "from an interrupted run. Delete it and run the command again.")
    return False


def safe_extract_zip(archive: str | Path, target: str | Path, select: Callable[[Path], Path] | None = None,
                     progress: bool = True, check: Callable[[Path], None] | None = None,
                     skip_bad: bool = False) -> Path:
    """Extract `archive` so that `target` appears only when complete.

    `select(tmp)` may pick the sub-folder of the extracted tree that becomes `target` (e.g. the
    folder holding the class folders); by default the whole tree does. `check(file)` is run on
    every file kept (see `_check_files`). Returns `target`; if `target` already carries the
    completion marker, nothing is done.
    """
    from tqdm.auto import tqdm

    archive, target = Path(archive), Path(target)
    if _finished_or_free(target, "extraction"):
        return target
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise DownloadError(f"Cannot open {archive} as a zip archive ({e}). Delete it and download it "
                            "again, or unpack it yourself and pass the folder with --from.") from None
    with zf:
        entries = check_zip_entries(zf, archive)
        tmp = temp_sibling(target)
        root = tmp.resolve()
        try:
            for info in tqdm(entries, desc=f"extracting {archive.name}", unit="file", disable=not progress):
                out = (tmp / info.filename.replace("\\", "/")).resolve()
                if out != root and root not in out.parents:  # belt and braces after the check above
                    raise DownloadError(f"Refusing to extract {archive}: entry {info.filename!r} "
                                        "lands outside the target folder.")
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(f"Extracting {archive} failed ({e}). The archive is damaged: delete "
                                "it and download it again.") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    info = {"archive": archive.name, "archive_bytes": archive.stat().st_size, "entries": len(entries)}
    return finish_extraction(tmp, target, select, info, check, skip_bad, progress, str(archive))


def finish_extraction(tmp: Path, target: Path, select: Callable[[Path], Path] | None, info: dict,
                      check: Callable[[Path], None] | None, skip_bad: bool, progress: bool, source: str) -> Path:
    """The end of every extraction into `tmp`: `select(tmp)` picks the sub-folder that becomes
    `target` (the rest is dropped), every kept file is checked, and the folder is published with
    `info` (plus the chosen folder and the files skipped). `tmp` is removed on any error."""
    try:
        chosen = select(tmp) if select else tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info = {**info, "folder": chosen.relative_to(tmp).as_posix()}
    if chosen != tmp:  # promote the chosen sub-folder, drop the rest
        inner = tmp.with_name(tmp.name + ".inner")
        if inner.exists():
            shutil.rmtree(inner)
        os.replace(chosen, inner)
        shutil.rmtree(tmp)
        tmp = inner
    info["skipped"] = _check_files(tmp, check, skip_bad, progress, source)
    return publish_folder(tmp, target, info)


def copy_tree(src: str | Path, target: str | Path, keep: Callable[[Path], bool] | None = None,
              progress: bool = True, check: Callable[[Path], None] | None = None, skip_bad: bool = False) -> Path:
    """Copy folder `src` to `target` with the same all-or-nothing guarantee as extraction,
    `check` included."""
    from tqdm.auto import tqdm

    src, target = Path(src), Path(target)
    if _finished_or_free(target, "copy"):
        return target
    files = [p for p in sorted(src.rglob("*")) if p.is_file() and (keep is None or keep(p))]
    tmp = temp_sibling(target)
    try:
        for p in tqdm(files, desc=f"copying {src.name}", unit="file", disable=not progress):
            out = tmp / p.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    skipped = _check_files(tmp, check, skip_bad, progress, str(src))
    return publish_folder(tmp, target, {"copied_from": str(src), "files": len(files) - len(skipped),
                                        "skipped": skipped})
