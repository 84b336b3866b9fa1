"""What zip and tar extraction share: the limits, the entry-name check, and folders that appear
complete or not at all.

Extraction (`helpers.data.zip_extract`, `helpers.data.tar_extract`) checks every entry first
(no absolute paths, no `..`, no links, no entry larger than MAX_ENTRY_BYTES or compressed more
than MAX_RATIO:1, no more than MAX_TOTAL_BYTES in all), writes into a temporary sibling folder
(`temp_sibling`), optionally checks each file (`check`, e.g. that an image decodes), and renames
the folder into place with a completion marker only once everything is out and checked
(`finish_extraction`, `publish_folder`): a half-extracted or damaged folder never looks
finished. `copy_tree` gives a folder the user already has the same guarantee. Re-running skips
work that is already done (`is_complete`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from helpers.data.download import DownloadError
from helpers.errors import DataError

MARKER = ".complete.json"
# Extraction limits against archive bombs. Image datasets compress little (PNG/JPEG ~1:1,
# raw PGM/BMP rarely beyond 20:1); an entry packed 100 times or more is refused.
MAX_RATIO = 100
RATIO_FLOOR = 64 * 1024  # entries smaller than this are too small to matter
MAX_ENTRY_BYTES = 4 << 30
MAX_TOTAL_BYTES = 64 << 30


def unsafe_name(name: str) -> str | None:
    """Why an archive entry named `name` would land outside the target folder, or None."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the target folder with '..'"
    return None


def not_an_archive(path: Path, kind: str) -> DownloadError:
    """The error for a file that is not a `kind` archive at all: often an HTML page (a login or
    error page saved under the archive's name), else a cut or foreign file."""
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    html = head.startswith((b"<!doctype html", b"<html"))
    return DownloadError(f"it is {f'an HTML page, not a {kind} archive' if html else f'not a {kind} archive (or a cut one)'}.")


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


def finished_or_free(target: Path, what: str) -> bool:
    """True when `target` holds a finished result; raises when a half-done one is in the way."""
    if is_complete(target):
        return True
    if target.exists():
        raise DownloadError(f"{target} exists but is not a finished {what} (no {MARKER}); it may be left "
                            "from an interrupted run. Delete it and run the command again.")
    return False


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
    info["skipped"] = check_files(tmp, check, skip_bad, progress, source)
    return publish_folder(tmp, target, info)


def copy_tree(src: str | Path, target: str | Path, keep: Callable[[Path], bool] | None = None,
              progress: bool = True, check: Callable[[Path], None] | None = None, skip_bad: bool = False) -> Path:
    """Copy folder `src` to `target` with the same all-or-nothing guarantee as extraction,
    `check` included."""
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
                                        "skipped": skipped})
