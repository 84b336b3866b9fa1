"""Getting mini-MIAS onto disk: `data_download.py minimias` (the release, or a copy you have).

`fetch_minimias` downloads `all-mias.tar.gz` (or takes `--from` an archive or a folder),
extracts it safely, and converts the 1024x1024 PGM films to PNG at full resolution under
`<dest>/all-mias/images/`, with `Info.txt` unchanged; `helpers.data.minimias` reads the result.
"""

from __future__ import annotations

import argparse
import shutil
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from helpers.data.dataset import Download
from helpers.data.download import DownloadError, download
from helpers.data.extract import is_complete, move_aside, publish_folder, temp_sibling
from helpers.data.images import to_gray8
from helpers.data.minimias import (
    CLASSES,
    EXPECTED,
    N_PATIENTS,
    count_report,
    find_release,
    image_of,
    info_file,
    parse_info,
    read_minimias,
)
from helpers.data.records import DataError
from helpers.data.tar_extract import safe_extract_tar, validate_tar
from helpers.data.zip_extract import safe_extract_zip

MIAS_URL = "http://peipa.essex.ac.uk/pix/mias/all-mias.tar.gz"
FOLDER = "all-mias"


def convert_release(root: Path, target: Path, progress: bool = True, skip_bad: bool = False) -> Path:
    """`<target>/images/mdbNNN.png` (full resolution, lossless) from the films under `root`
    (PGM or PNG), Info.txt copied byte for byte, README and Licence.txt into docs/; the folder
    appears complete or not at all."""
    info = info_file(root)
    refs = sorted(parse_info(info)["ref"].unique())
    tmp = temp_sibling(target)
    skipped = []
    try:
        (tmp / "images").mkdir()
        for ref in tqdm(refs, desc="converting to PNG", unit="img", disable=not progress):
            src = image_of(root, ref, (".pgm", ".png"))
            try:
                if src is None:
                    raise DataError(f"{ref}.pgm, listed in {info}, is missing from {root}.")
                with Image.open(src) as im:
                    im.load()
                    to_gray8(im, src).save(tmp / "images" / f"{ref}.png")
            except (DataError, UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
                if not skip_bad:
                    raise DataError(f"{e if isinstance(e, DataError) else f'Cannot read {src}: {e}.'} Nothing was "
                                    "kept: fetch the release again, or pass --skip-bad to leave such images out.") from None
                skipped.append(ref)
        shutil.copyfile(info, tmp / "Info.txt")
        for doc in (p for p in root.iterdir() if p.is_file() and p.name.lower() in ("readme", "licence.txt")):
            (tmp / "docs").mkdir(exist_ok=True)
            shutil.copyfile(doc, tmp / "docs" / doc.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return publish_folder(tmp, target, {"from": str(root), "images": len(refs) - len(skipped), "skipped": skipped,
                                        "format": "PNG, full resolution (1024x1024 in the release)"})


def _extract(archive: Path, raw: Path, progress: bool) -> Path:
    if raw.exists():  # a leftover from an interrupted conversion
        shutil.rmtree(raw)
    if zipfile.is_zipfile(archive):
        return safe_extract_zip(archive, raw, progress=progress)
    if tarfile.is_tarfile(archive):
        return safe_extract_tar(archive, raw, progress=progress)
    raise DataError(f"{archive} is neither a tar nor a zip archive. Give all-mias.tar.gz or the folder holding "
                    "Info.txt and the mdbNNN.pgm files.")


def fetch_minimias(dest: str | Path, url: str = MIAS_URL, from_path: str | Path | None = None,
                   in_place: bool = False, keep_archive: bool = True, check: bool = True,
                   progress: bool = True, skip_bad: bool = False) -> dict:
    """Put mini-MIAS under `<dest>/all-mias/` (or accept `from_path` where it is with
    `in_place`) and count it. Returns `data_dir`, `counts`, `patients` and a printable `report`."""
    dest = Path(dest).expanduser()
    target, raw = dest / FOLDER, dest / f".{FOLDER}-raw"
    src = Path(from_path).expanduser() if from_path is not None else None
    if src is not None and not src.exists():
        raise DataError(f"--from {src}: no such file or folder. Give all-mias.tar.gz or the folder holding Info.txt.")
    if in_place and (src is None or not src.is_dir()):
        raise DataError("--in-place needs --from FOLDER (a folder holding Info.txt and images/mdbNNN.png).")
    if in_place:
        data_dir = find_release(src)
    elif is_complete(target):
        print(f"{target} is already complete; skipping download and conversion.")
        data_dir = target
    else:
        if src is not None and src.is_dir():
            root = find_release(src)
        else:
            archive = src or download(url, dest / (Path(urlparse(url).path).name or "all-mias.tar.gz"),
                                      progress=progress,
                                      validate=validate_tar)
            try:
                root = find_release(_extract(archive, raw, progress))
            except DownloadError as e:
                raise (e if src else move_aside(archive, e)) from None
        try:
            convert_release(root, target, progress=progress, skip_bad=skip_bad)
        finally:
            shutil.rmtree(raw, ignore_errors=True)
        if src is None and not keep_archive:
            archive.unlink()
        data_dir = target
    df = read_minimias(data_dir, check=check and in_place, skip_bad=skip_bad, progress=progress)
    counts = {c: int((df["class_name"] == c).sum()) for c in CLASSES}
    return dict(data_dir=Path(data_dir), counts=counts, patients=int(df["patient"].nunique()),
                matches=counts == EXPECTED and df["patient"].nunique() == N_PATIENTS,
                report=count_report(df, df.attrs.get("root")))


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=MIAS_URL, help="where to download the archive from (default: %(default)s)")
    p.add_argument("--from", dest="from_path", default=None, metavar="PATH",
                   help="use all-mias.tar.gz (or a zip) or a folder you already have instead of downloading")
    p.add_argument("--in-place", action="store_true",
                   help="with --from FOLDER holding Info.txt and images/*.png: check it and use it where it is")
    p.add_argument("--remove-archive", action="store_true", help="delete the downloaded archive after conversion")
    p.add_argument("--no-check", action="store_true", help="do not decode every image of an --in-place folder")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave missing or unreadable images out (listed) instead of stopping")


def _run(args: argparse.Namespace) -> Path:
    res = fetch_minimias(args.dest, url=args.url, from_path=args.from_path, in_place=args.in_place,
                         keep_archive=not args.remove_archive, check=not args.no_check, progress=not args.quiet,
                         skip_bad=args.skip_bad)
    print(res["report"])
    return res["data_dir"]


DOWNLOAD = Download(
    command="minimias",
    help="the MIAS mammograms (normal vs abnormal): all-mias.tar.gz or your copy",
    summary=("the MIAS mammograms (Suckling et al. 1994; 322 films of 161 women, normal\n"
             "vs abnormal, the DDPM study's task): downloads all-mias.tar.gz (or --from a\n"
             "copy), converts the films to PNG under <dest>/all-mias/ with Info.txt."),
    examples=("python data_download.py minimias --dest data/minimias",
              "python data_download.py minimias --from ~/data/mini-mias --in-place             # a converted copy as is"),
    description=("Get mini-MIAS into <dest>/all-mias/: images/mdb001.png ... (the 1024x1024 PGM films converted\n"
                 "to PNG at full resolution) and Info.txt, and report 207 normal / 115 abnormal images of\n"
                 "161 women. The tar archive is checked before extraction (no absolute paths, no '..',\n"
                 "no links or devices, size and compression limits). A folder already holding Info.txt and\n"
                 "images/mdbNNN.png (any size) can be used as is with --from FOLDER --in-place.\n"
                 "Licence: research use; cite Suckling et al. 1994 when you publish."),
    epilog=("examples:\n  python data_download.py minimias --dest data/minimias\n"
            "  python data_download.py minimias --from all-mias.tar.gz --dest data/minimias\n"
            "  python data_download.py minimias --from ~/data/mini-mias --in-place"),
    add_arguments=_arguments,
    run=_run,
)
