"""Fetching files over HTTP(S) safely: resumable downloads that are verified before they count.

Downloads stream into `<file>.part` with a progress bar. A cut download resumes with a
`Range` request (a server that ignores it is detected and the file restarts cleanly); the
size and, when known, the MD5/SHA-256 digest are checked before the file is renamed into
place, so a file under its final name is always complete and verified.

A download may also be checked for what it holds (`validate`, e.g. "is a readable archive",
`helpers.data.extract.validate_archive`): a file that fails is never left under its final
name, so a rerun fetches it again instead of failing the same way on the same bad file.
Re-running skips work that is already done.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from helpers.errors import DataError

CHUNK = 1 << 20
USER_AGENT = "breast-synth-course/0.1 (+data_download.py)"
RETRY_WAIT = 1.0  # seconds, times the attempt number, after a connection error
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
