"""Zip archives extracted so that nothing can escape the target folder (see `helpers.data.extract`).

Every entry is checked before anything is written: no absolute path, no `..`, no symbolic link,
no entry over MAX_ENTRY_BYTES or packed more than MAX_RATIO:1, no more than MAX_TOTAL_BYTES in
all. `validate_zip` also reads every entry's CRC, so a downloaded file is known good (or moved
aside) before extraction starts.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
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
        bad = unsafe_name(info.filename) or ("is a symbolic link" if _is_link(info) else None)
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
        raise not_an_archive(path, "zip")
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip_entries(zf, path)
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DownloadError(f"it is a damaged zip archive ({e}).") from None
    if bad is not None:
        raise DownloadError(f"it is a damaged zip archive (entry {bad!r} fails its CRC check).")


def safe_extract_zip(archive: str | Path, target: str | Path, select: Callable[[Path], Path] | None = None,
                     progress: bool = True, check: Callable[[Path], None] | None = None,
                     skip_bad: bool = False) -> Path:
    """Extract `archive` so that `target` appears only when complete.

    `select(tmp)` may pick the sub-folder of the extracted tree that becomes `target` (e.g. the
    folder holding the class folders); by default the whole tree does. `check(file)` is run on
    every file kept (see `helpers.data.extract.check_files`). Returns `target`; if `target`
    already carries the completion marker, nothing is done.
    """
    archive, target = Path(archive), Path(target)
    if finished_or_free(target, "extraction"):
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
