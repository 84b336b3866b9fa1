"""What every `data_download.py` sub-command shares: its record (`Download`), the options of a
released dataset (`--url`, `--from`, `--in-place`, ...), and the one way a release gets onto
disk (`fetch_release`): used where it is, already complete, or downloaded (or taken from
`--from`), unpacked all-or-nothing and marked complete. Each source declares only what differs."""

from __future__ import annotations

import argparse
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers.data.download import DownloadError, download
from helpers.data.extract import finished_or_free, move_aside, validate_archive
from helpers.errors import DataError


@dataclass(frozen=True)
class Download:
    """`python data_download.py <command>`: how a source gets onto disk."""

    command: str  # the sub-command; also the dataset its "use it with" line names
    help: str  # its line in the list of sub-commands
    summary: str  # its paragraph in `data_download.py --help` (wrapped lines indented by 15)
    examples: tuple[str, ...]  # its lines under "examples:" there and in `<command> --help`
    description: str  # `data_download.py <command> --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]  # its options, after --dest and --quiet
    run: Callable[[argparse.Namespace], dict]  # does the work; returns `data_dir` and a printable `report`
    dest_help: str = ""  # --dest's help where its default is not data/<command>
    note: str = ""  # printed after the "use it with" line

    @property
    def epilog(self) -> str:
        return "examples:\n" + "\n".join(f"  {e}" for e in self.examples)


def release_arguments(p: argparse.ArgumentParser, from_help: str, in_place_help: str, url: str | None = None) -> None:
    """--url and --remove-archive (when the release can be downloaded), --from, --in-place,
    --no-check, --skip-bad."""
    if url:
        p.add_argument("--url", default=url, help="where to download the archive from (default: %(default)s)")
    p.add_argument("--from", dest="from_path", default=None, metavar="PATH", help=from_help)
    p.add_argument("--in-place", action="store_true", help=in_place_help)
    if url:
        p.add_argument("--remove-archive", action="store_true",
                       help="delete the downloaded archive after it is unpacked (default: keep it)")
    p.add_argument("--no-check", action="store_true",
                   help="do not decode every image (faster; corrupt files show later)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave unreadable images out (listed) instead of stopping at the first one")


def release_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of a source's `fetch_*` from the options of `release_arguments`."""
    opts = dict(from_path=args.from_path, in_place=args.in_place, check=not args.no_check,
                progress=not args.quiet, skip_bad=args.skip_bad)
    if hasattr(args, "url"):
        opts.update(url=args.url, keep_archive=not args.remove_archive)
    return opts


def fetch_release(target: Path, make: Callable[[Path, Path], object], *, give: str, from_path=None,
                  in_place: bool = False, find: Callable[[Path], Path] = Path, url: str | None = None,
                  archive_name: str = "", keep_archive: bool = True, progress: bool = True) -> Path:
    """The folder to read: `find(from_path)` with `in_place`, else `target`, made unless it is
    already complete by `make(source, target)` from `from_path` (an archive or a folder) or from
    the archive downloaded from `url` into `<target's parent>/<archive_name>` (renamed `.bad`
    when it cannot be unpacked). `give` says what `--from` takes."""
    src = Path(from_path).expanduser() if from_path is not None else None
    if src is not None and not src.exists():
        raise DataError(f"--from {src}: no such file or folder. {give}")
    if in_place:
        if src is None:
            raise DataError("--in-place needs --from FOLDER (the folder to use where it is).")
        if not src.is_dir():
            raise DataError(f"--in-place needs a folder, but {src} is an archive. Drop --in-place to unpack it "
                            "into --dest.")
        return find(src)
    if src is not None and src.is_file() and not (zipfile.is_zipfile(src) or tarfile.is_tarfile(src)):
        raise DataError(f"--from {src} is neither a zip/tar archive nor a folder. {give}")
    if finished_or_free(target, "extraction"):
        print(f"{target} is already complete; skipping download and extraction.")
        return target
    archive = src or download(url, target.parent / archive_name, progress=progress, validate=validate_archive)
    try:
        make(archive, target)
    except DownloadError as e:
        raise (e if src else move_aside(archive, e)) from None
    if src is None and not keep_archive:
        archive.unlink()
    return target
