"""Zip and tar archives extracted so that nothing can escape the target folder, into folders
that appear complete or not at all.

Every entry is checked before anything is written: no absolute path, no `..`, no link, device,
pipe or sparse file, no entry over MAX_ENTRY_BYTES or (zip) packed more than MAX_RATIO:1, no
more than MAX_TOTAL_BYTES or MAX_MEMBERS in all. A compressed tar is one stream, so its ratio
is checked for the whole archive while the headers are read: a bomb is refused at its first
big header. Files are written by us (never by `extractall`) into a temporary sibling folder,
optionally checked (e.g. that an image decodes), and renamed into place with a completion
marker once all is out and checked. `copy_tree` gives a user's folder the same guarantee.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from helpers.data.download import CHUNK, DownloadError
from helpers.errors import DataError

MARKER = ".complete.json"
# Extraction limits against archive bombs. Image datasets compress little (PNG/JPEG ~1:1,
# raw PGM/BMP rarely beyond 20:1); an entry packed 100 times or more is refused.
MAX_RATIO = 100
RATIO_FLOOR = 64 * 1024  # entries smaller than this are too small to matter
MAX_ENTRY_BYTES = 4 << 30
MAX_TOTAL_BYTES = 64 << 30
MAX_MEMBERS = 200_000  # BreakHis has ~8,000 images and MIAS 322; far more is not a dataset
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, OSError, EOFError, zlib.error)


def unsafe_name(name: str) -> str | None:
    """Why an archive entry named `name` would land outside the target folder, or None."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the target folder with '..'"
    return None


def _refuse(archive: Path, what: str) -> DownloadError:
    return DownloadError(f"Refusing to extract {archive}: {what}. The archive is damaged or not the expected "
                         "dataset; nothing was extracted.")


def _zip_entries(zf: zipfile.ZipFile):
    for i in zf.infolist():
        ratio = i.file_size / max(1, i.compress_size)
        why = ("is a symbolic link" if stat.S_ISLNK(i.external_attr >> 16) else
               f"unpacks to {i.file_size:,} bytes from {i.compress_size:,} ({ratio:,.0f}:1; the limit is "
               f"{MAX_RATIO}:1: image datasets do not compress like that)"
               if i.file_size >= RATIO_FLOOR and ratio > MAX_RATIO else None)
        yield i.filename, i.file_size, not i.is_dir(), why, i


def _tar_entries(tf: tarfile.TarFile):
    for m in tf:
        why = ("is a link" if m.issym() or m.islnk() else
               "is a device, pipe or other special file" if m.issparse() or not (m.isfile() or m.isdir()) else None)
        yield m.name, m.size, m.isfile(), why, m


@contextmanager
def _checked(archive: Path):
    """The archive open: (its entries (name, size, is_file, member) after every check, open(member))."""
    is_zip = zipfile.is_zipfile(archive) or archive.suffix.lower() == ".zip"
    try:
        af = zipfile.ZipFile(archive) if is_zip else tarfile.open(archive, "r:*")
    except _DAMAGED as e:
        raise DownloadError(f"Cannot open {archive} as a {'zip' if is_zip else 'tar'} archive ({e}). Delete it and "
                            "download it again, or unpack it yourself and pass the folder with --from.") from None
    with af:
        archive_bytes, total, entries = max(1, archive.stat().st_size), 0, []
        for name, size, is_file, why, member in (_zip_entries(af) if is_zip else _tar_entries(af)):
            if size > MAX_ENTRY_BYTES:
                why = why or f"unpacks to {size:,} bytes (the limit is {MAX_ENTRY_BYTES >> 30} GiB per entry)"
            bad = unsafe_name(name) or why
            if bad:
                raise _refuse(archive, f"entry {name!r} {bad}")
            total += size
            entries.append((name.replace("\\", "/"), size, is_file, member))
            if total > MAX_TOTAL_BYTES:
                raise _refuse(archive, f"it unpacks to more than {MAX_TOTAL_BYTES >> 30} GiB")
            if not is_zip and total >= RATIO_FLOOR and total > MAX_RATIO * archive_bytes:
                raise _refuse(archive, f"it unpacks to more than {total:,} bytes from {archive_bytes:,} (over "
                                       f"{MAX_RATIO}:1; image datasets do not compress like that)")
            if len(entries) > MAX_MEMBERS:
                raise _refuse(archive, f"it holds more than {MAX_MEMBERS:,} entries")
        yield entries, af.open if is_zip else af.extractfile


def validate_archive(path: Path) -> None:
    """DownloadError unless `path` is a zip or tar archive whose entries pass the checks and whose
    data read to the end (zip CRCs included): catches an HTML page saved as the archive, a cut
    download, and an archive bomb, before anything is extracted."""
    path = Path(path)
    if not (zipfile.is_zipfile(path) or tarfile.is_tarfile(path)):
        with open(path, "rb") as f:
            html = f.read(512).lstrip().lower().startswith((b"<!doctype html", b"<html"))
        raise DownloadError(f"it is {'an HTML page, not an archive' if html else 'not a zip or tar archive (or a cut one)'}.")
    try:
        with _checked(path) as (entries, read):
            for _, _, is_file, member in entries:
                if is_file:
                    with read(member) as f:
                        while f.read(CHUNK):
                            pass
    except _DAMAGED as e:
        raise DownloadError(f"it is a damaged archive ({e or type(e).__name__}).") from None


def safe_extract(archive: str | Path, target: str | Path, select: Callable[[Path], Path] | None = None,
                 keep: Callable[[str], bool] | None = None, progress: bool = True,
                 check: Callable[[Path], None] | None = None, skip_bad: bool = False,
                 validate: Callable[[Path], object] | None = None) -> Path:
    """Extract a zip or tar `archive` so that `target` appears only when complete.

    `keep(name)` may leave files out (e.g. other magnifications); `select(tmp)` may pick the
    sub-folder that becomes `target` (e.g. the one holding the class folders; the rest is
    dropped); `check(file)` runs on every file kept; `validate(folder)` on the result (a
    DataError: nothing is kept). Returns `target`; if it is already complete, nothing is done.
    """
    archive, target = Path(archive), Path(target)
    if finished_or_free(target, "extraction"):
        return target
    tmp = None
    try:
        with _checked(archive) as (entries, read):
            tmp = temp_sibling(target)
            root, kept = tmp.resolve(), 0
            for name, _, is_file, member in tqdm(entries, desc=f"extracting {archive.name}", unit="file",
                                                 disable=not progress):
                if not is_file or (keep is not None and not keep(name)):
                    continue  # folders appear with their files
                out = (tmp / name).resolve()
                if root not in out.parents:  # belt and braces after the checks
                    raise _refuse(archive, f"entry {name!r} lands outside the target folder")
                out.parent.mkdir(parents=True, exist_ok=True)
                with read(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                kept += 1
        chosen = select(tmp) if select else tmp
    except _DAMAGED as e:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"Extracting {archive} failed ({e or type(e).__name__}). The archive is damaged: "
                            "delete it and download it again.") from None
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    info = {"archive": archive.name, "archive_bytes": archive.stat().st_size, "entries": len(entries),
            "kept": kept, "folder": chosen.relative_to(tmp).as_posix()}
    if chosen != tmp:  # promote the chosen sub-folder, drop the rest
        inner = tmp.with_name(tmp.name + ".inner")
        if inner.exists():
            shutil.rmtree(inner)
        os.replace(chosen, inner)
        shutil.rmtree(tmp)
        tmp = inner
    info["skipped"] = check_files(tmp, check, skip_bad, progress, str(archive))
    return publish_folder(tmp, target, info, validate, str(archive))


def copy_tree(src: str | Path, target: str | Path, keep: Callable[[Path], bool] | None = None,
              progress: bool = True, check: Callable[[Path], None] | None = None, skip_bad: bool = False,
              validate: Callable[[Path], object] | None = None) -> Path:
    """Copy folder `src` to `target` with the same all-or-nothing guarantee as extraction,
    `check` and `validate` included."""
    src, target = Path(src), Path(target)
    if finished_or_free(target, "copy"):
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
    skipped = check_files(tmp, check, skip_bad, progress, str(src))
    return publish_folder(tmp, target, {"copied_from": str(src), "files": len(files) - len(skipped),
                                        "skipped": skipped}, validate, str(src))


def unpack(src: Path, target: Path, *, select: Callable[[Path], Path], **kw) -> Path:
    """`copy_tree(select(src), ...)` for a folder, `safe_extract` for an archive."""
    if src.is_dir():
        return copy_tree(select(src), target, **kw)
    return safe_extract(src, target, select=select, **kw)


def move_aside(archive: Path, e: DownloadError) -> DownloadError:
    """A downloaded archive that cannot be extracted is renamed `<name>.bad`, so the next run
    fetches a fresh copy instead of failing on the same file."""
    bad = archive.with_name(archive.name + ".bad")
    os.replace(archive, bad)
    return DownloadError(f"{e} The downloaded file was renamed to {bad} (delete it when done); run the same "
                         "command to download it again, or fetch the archive yourself and pass it with --from.")


def check_files(tmp: Path, check: Callable[[Path], None] | None, skip_bad: bool, progress: bool,
                what: str) -> list[str]:
    """Run `check` on every file in `tmp`; a DataError removes the folder and stops, or with
    `skip_bad` deletes that file and lists it."""
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
    """The marker and something beside it: a folder holding only the marker is not complete."""
    folder = Path(folder)
    return (folder / MARKER).is_file() and any(p.name != MARKER for p in folder.iterdir())


def publish_folder(tmp: Path, target: Path, info: dict, validate: Callable[[Path], object] | None = None,
                   source: str = "") -> Path:
    """Check `tmp` (some file kept, `validate` passes), then write the completion marker into it
    and rename it to `target` (one step); a refused `tmp` is removed, so a rerun starts afresh."""
    try:
        if not any(p.is_file() for p in tmp.rglob("*")):
            raise DataError("no file in it is one this dataset uses (a different layout?).")
        if validate is not None:
            validate(tmp)
    except DataError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = str(e).replace(str(tmp), source or str(target))  # name the source, not the work folder
        raise DataError(f"{source or target} is not a usable copy: {reason} Nothing was kept in {target}.") from None
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


def finished_or_free(target: Path, what: str) -> bool:
    """True when `target` holds a finished result; raises when a half-done one is in the way."""
    if is_complete(target):
        return True
    if target.is_dir() and [p.name for p in target.iterdir()] == [MARKER]:  # an empty result of ours: redo it
        shutil.rmtree(target)
    if target.exists():
        raise DownloadError(f"{target} exists but is not a finished {what} (no {MARKER}); it may be left "
                            "from an interrupted run. Delete it and run the command again.")
    return False
