"""Tar archives (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) extracted as safely as zips.

The same guarantees as `helpers.data.zip_extract.safe_extract_zip` (both share `helpers.data.extract`): every member is checked
before anything is written (no absolute path, no `..`, no symbolic or hard link, no device,
pipe or sparse file, no member over MAX_ENTRY_BYTES, no more than MAX_TOTAL_BYTES or
MAX_MEMBERS in all), files are written by us (never by `tarfile.extract`, so nothing but
plain files and folders can appear), into a temporary sibling folder that is renamed into
place with a completion marker once everything is out and checked.

A compressed tar is one stream, so the compression ratio is checked for the whole archive:
the sizes its headers declare may not exceed MAX_RATIO times its size on disk. The check
runs while the headers are read, so an archive bomb is refused at its first big header,
before it is decompressed further.
"""

from __future__ import annotations

import shutil
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from helpers.data.download import CHUNK, DownloadError
from helpers.data.extract import (
    MAX_ENTRY_BYTES,
    MAX_RATIO,
    MAX_TOTAL_BYTES,
    RATIO_FLOOR,
    finish_extraction,
    finished_or_free,
    not_an_archive,
    temp_sibling,
    unsafe_name,
)

MAX_MEMBERS = 200_000  # BreakHis has ~8,000 images and MIAS 322; far more is not a dataset
_DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error)


def _refuse(archive: Path, what: str) -> DownloadError:
    return DownloadError(f"Refusing to extract {archive}: {what}. The archive is damaged or not the expected "
                         "dataset; nothing was extracted.")


def _not_plain(m: tarfile.TarInfo) -> str | None:
    if m.issym() or m.islnk():
        return "is a link"
    if m.issparse() or not (m.isfile() or m.isdir()):
        return "is a device, pipe or other special file"
    if m.size > MAX_ENTRY_BYTES:
        return f"unpacks to {m.size:,} bytes (the limit is {MAX_ENTRY_BYTES >> 30} GiB per entry)"
    return None


def check_tar_members(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """All members, after refusing any that would land outside the target folder, are not
    plain files or folders, or add up to far more than the archive holds."""
    archive_bytes = max(1, archive.stat().st_size)
    total, members = 0, []
    for m in tf:
        bad = unsafe_name(m.name) or _not_plain(m)
        if bad:
            raise _refuse(archive, f"entry {m.name!r} {bad}")
        total += m.size
        members.append(m)
        if total > MAX_TOTAL_BYTES:
            raise _refuse(archive, f"it unpacks to more than {MAX_TOTAL_BYTES >> 30} GiB")
        if total >= RATIO_FLOOR and total > MAX_RATIO * archive_bytes:
            raise _refuse(archive, f"it unpacks to more than {total:,} bytes from {archive_bytes:,} (over "
                                   f"{MAX_RATIO}:1; image datasets do not compress like that)")
        if len(members) > MAX_MEMBERS:
            raise _refuse(archive, f"it holds more than {MAX_MEMBERS:,} entries")
    return members


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except _DAMAGED as e:
        raise DownloadError(f"Cannot open {archive} as a tar archive ({e}). Delete it and download it again, or "
                            "unpack it yourself and pass the folder with --from.") from None


def validate_tar(path: Path) -> None:
    """DownloadError unless `path` is a tar archive whose members pass `check_tar_members` and
    whose data read to the end (catches an HTML page saved as the archive, a cut download,
    an archive bomb), before anything is extracted."""
    path = Path(path)
    if not tarfile.is_tarfile(path):
        raise not_an_archive(path, "tar")
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in check_tar_members(tf, path):
                if m.isfile():
                    f = tf.extractfile(m)
                    while f.read(CHUNK):
                        pass
    except DownloadError:
        raise
    except _DAMAGED as e:
        raise DownloadError(f"it is a damaged tar archive ({e or type(e).__name__}).") from None


def safe_extract_tar(archive: str | Path, target: str | Path, select: Callable[[Path], Path] | None = None,
                     keep: Callable[[str], bool] | None = None, progress: bool = True,
                     check: Callable[[Path], None] | None = None, skip_bad: bool = False) -> Path:
    """Extract `archive` so that `target` appears only when complete (see the module doc).

    `keep(name)` may leave files out (e.g. other magnifications); `select(tmp)` may pick the
    sub-folder that becomes `target`; `check(file)` runs on every file kept. Returns
    `target`; if it already carries the completion marker, nothing is done.
    """
    archive, target = Path(archive), Path(target)
    if finished_or_free(target, "extraction"):
        return target
    with _open(archive) as tf:
        try:
            members = check_tar_members(tf, archive)
        except _DAMAGED as e:
            raise DownloadError(f"Reading {archive} failed ({e or type(e).__name__}). The archive is damaged: "
                                "delete it and download it again.") from None
        tmp = temp_sibling(target)
        root = tmp.resolve()
        kept = 0
        try:
            for m in tqdm(members, desc=f"extracting {archive.name}", unit="file", disable=not progress):
                name = m.name.replace("\\", "/")
                if not m.isfile() or (keep is not None and not keep(name)):
                    continue  # folders appear with their files
                out = (tmp / name).resolve()
                if root not in out.parents:  # belt and braces after the check above
                    raise _refuse(archive, f"entry {m.name!r} lands outside the target folder")
                out.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                kept += 1
        except _DAMAGED as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(f"Extracting {archive} failed ({e or type(e).__name__}). The archive is damaged: "
                                "delete it and download it again.") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    info = {"archive": archive.name, "archive_bytes": archive.stat().st_size, "entries": len(members), "kept": kept}
    return finish_extraction(tmp, target, select, info, check, skip_bad, progress, str(archive))
