#!/usr/bin/env python
"""Get the course's data: procedural phantoms (offline), BUSI, BreastMNIST, mini-MIAS or BreakHis.

Run `python data_download.py --help` (or `<source> --help`) for every option.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Running `python data_download.py` from the project folder works without installing.
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from helpers.config import default_data_dir as _default_data_dir  # noqa: E402
from helpers.data.records import DataError  # noqa: E402


def default_data_dir(dataset: str) -> Path:
    """Where the notebooks look when DATA_DIR is empty: COURSE_DATA_ROOT or <project>/data."""
    return _default_data_dir(dataset, "quick", os.environ.get("COURSE_DATA_ROOT") or ROOT / "data")

DESCRIPTION = """\
Get the images the course trains on (`python -m helpers prepare` and the notebooks read
each source's folder):

  phantom      procedural, BUSI-like ultrasound images made in code: offline, deterministic
               by seed, 437 benign / 133 normal / 210 malignant by default. The default
               dataset of the course (the notebooks also make it on their own when missing).
  busi         the Breast Ultrasound Images dataset (Al-Dhabyani et al., Data in Brief 2020):
               downloads the official archive, or takes an archive/folder you already have
               (--from), unpacks it to <dest>/Dataset_BUSI_with_GT/, and checks the class
               counts against the release (437 benign / 210 malignant / 133 normal).
  breastmnist  MedMNIST's BreastMNIST (28/64/128/224 px, binary: benign+normal vs
               malignant), checked against MedMNIST's published MD5 and unpacked to PNGs
               with MedMNIST's own train/val/test split in <dest>/splits.csv.
  minimias     the MIAS mammograms (Suckling et al. 1994; 322 films of 161 women, normal
               vs abnormal, the DDPM study's task): downloads all-mias.tar.gz (or --from a
               copy), converts the films to PNG under <dest>/all-mias/ with Info.txt.
  breakhis     BreakHis histopathology (Spanhol et al. 2016; 7,909 RGB images of 82
               patients, benign vs malignant or 8 subtypes, the cWGAN study's data): unpacks
               the BreaKHis_v1 archive you have (--from) to <dest>/BreaKHis_v1/.

Downloads stream with a progress bar, resume after an interruption (run the same command
again), are verified before they count as finished, and re-running skips finished work.
Archives are checked so that no entry can land outside the destination folder.
Each source has its own options: `python data_download.py SOURCE --help`.
"""

EXAMPLES = """\
examples:
  python data_download.py phantom --dest data/phantom
  python data_download.py phantom --dest /tmp/tiny --size 64 --counts benign=20,normal=10,malignant=10
  python data_download.py busi --dest data/busi
  python data_download.py busi --dest data/busi --from ~/Downloads/archive.zip     # the Kaggle copy
  python data_download.py busi --from ~/data/busi-256 --in-place                   # use a folder as is
  python data_download.py breastmnist --size 128 --dest data/breastmnist-128
  python data_download.py minimias --dest data/minimias
  python data_download.py minimias --from ~/data/mini-mias --in-place             # a converted copy as is
  python data_download.py breakhis --from ~/Downloads/BreaKHis_v1.tar.gz --dest data/breakhis
  python data_download.py breakhis --from BreaKHis_v1.tar.gz --magnification 40 --dest data/breakhis-40x

then, e.g.:
  python -m helpers prepare --dataset busi --data-dir data/busi --size 128 --runs-dir runs/paper-busi
  python -m helpers course --profile paper --dataset busi --data-dir data/busi
  (in a notebook: COURSE_DATASET=busi COURSE_DATA_DIR=data/busi before starting JupyterLab)
"""

PHANTOM_CLASSES = ("benign", "normal", "malignant")


def parse_counts(text: str) -> dict:
    counts = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key not in PHANTOM_CLASSES or not value.strip().isdigit():
            raise DataError(f"--counts {text!r}: expected CLASS=N for each of "
                            f"{', '.join(PHANTOM_CLASSES)}, e.g. benign=437,normal=133,malignant=210.")
        counts[key] = int(value)
    missing = [c for c in PHANTOM_CLASSES if c not in counts]
    if missing or min(counts.values()) < 1:
        raise DataError(f"--counts {text!r}: give at least one image for every class "
                        f"({', '.join(PHANTOM_CLASSES)}); the readers need all of them.")
    return counts


def cmd_phantom(args) -> None:
    from helpers.data.phantom import DEFAULT_COUNTS
    from helpers.data.phantom_folder import ensure_phantom
    from helpers.data.registry import load_records

    dest = Path(args.dest).expanduser()
    counts = parse_counts(args.counts) if args.counts else dict(DEFAULT_COUNTS)
    if args.size < 16:
        raise DataError(f"--size {args.size}: phantoms need at least 16 px.")
    t0 = time.perf_counter()
    # Refuses a folder it did not make (real images are never overwritten); finishes an
    # interrupted set; remakes a set made with other settings or an older phantom version.
    wrote = ensure_phantom(dest, counts, args.size, seed=args.seed, masks=not args.no_masks, progress=not args.quiet,
                          option="--dest")
    found = load_records("phantom", dest, check=False, progress=False)["class_name"].value_counts()
    found = {c: int(found.get(c, 0)) for c in PHANTOM_CLASSES}
    if found != counts:
        raise DataError(f"{dest} holds {found} images, not the {counts} asked for: files were added or "
                        "removed while it ran. Delete the folder and run the command again.")
    state = f"written in {time.perf_counter() - t0:.1f} s" if wrote else "already there"
    print(f"Phantom set ready: {sum(found.values())} images ({', '.join(f'{c} {n}' for c, n in found.items())}), "
          f"{args.size} px, seed {args.seed}, in {dest} ({state}).")
    _next_steps("phantom", dest)


def cmd_busi(args) -> None:
    from helpers.data.busi_fetch import fetch_busi

    if args.in_place and args.from_path is None:
        raise DataError("--in-place needs --from FOLDER (the folder to use where it is).")
    res = fetch_busi(args.dest, url=args.url, from_path=args.from_path, in_place=args.in_place,
                     keep_archive=not args.remove_archive, check=not args.no_check,
                     progress=not args.quiet, skip_bad=args.skip_bad)
    print(res["report"])
    _next_steps("busi", res["data_dir"])


def cmd_breastmnist(args) -> None:
    from helpers.data.breastmnist import fetch_breastmnist

    dest = args.dest or default_data_dir("breastmnist")
    if not args.dest and args.size != 28:
        dest = dest.with_name(f"breastmnist-{args.size}")
    res = fetch_breastmnist(dest, size=args.size, url=args.url, md5=args.md5, from_path=args.from_path,
                            progress=not args.quiet)
    print(res["report"])
    _next_steps("breastmnist", res["data_dir"])


def cmd_minimias(args) -> None:
    from helpers.data.minimias import fetch_minimias

    res = fetch_minimias(args.dest, url=args.url, from_path=args.from_path, in_place=args.in_place,
                         keep_archive=not args.remove_archive, check=not args.no_check, progress=not args.quiet,
                         skip_bad=args.skip_bad)
    print(res["report"])
    _next_steps("minimias", res["data_dir"])


def cmd_breakhis(args) -> None:
    from helpers.data.breakhis import fetch_breakhis

    if args.from_path is None:  # no stable public URL to download from
        raise DataError("breakhis needs --from: download BreaKHis_v1.tar.gz from the dataset's page (UFPR, "
                        "web.inf.ufpr.br/vri/databases-software/breast-cancer-histopathological-database-breakhis) "
                        "and pass it with --from.")
    res = fetch_breakhis(args.dest, from_path=args.from_path, magnification=args.magnification,
                         in_place=args.in_place, check=not args.no_check, progress=not args.quiet,
                         skip_bad=args.skip_bad)
    print(res["report"])
    _next_steps("breakhis", res["data_dir"])
    print("For the eight subtypes use --dataset breakhis8 with the same folder.")


def _next_steps(dataset: str, data_dir: Path) -> None:
    print(f"Data folder: {data_dir}\nUse it with `python -m helpers course --dataset {dataset} "
          f"--data-dir {data_dir}` (or `prepare`), or in notebooks with COURSE_DATASET={dataset} "
          f"COURSE_DATA_DIR={data_dir}.")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="data_download.py", description=DESCRIPTION, epilog=EXAMPLES,
                                formatter_class=fmt)
    sub = p.add_subparsers(dest="source", metavar="{phantom,busi,breastmnist,minimias,breakhis}", required=True)

    def common(sp, dataset, dest_help=None):
        sp.add_argument("--dest", default=None if dest_help else default_data_dir(dataset),
                        help=dest_help or "folder to write into (default: %(default)s)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    ph = sub.add_parser("phantom", help="procedural ultrasound-like images (offline, deterministic)",
                        formatter_class=fmt, description=(
                            "Write procedural BUSI-like phantoms in the BUSI layout: "
                            "<dest>/<class>/<class> (i).png with <class> (i)_mask.png beside.\n"
                            "Deterministic in (seed, class, index): re-running finishes an "
                            "interrupted run, and larger counts add images without changing "
                            "existing ones."),
                        epilog="example:\n  python data_download.py phantom --dest data/phantom --size 128")
    common(ph, "phantom")
    ph.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ph.add_argument("--size", type=int, default=512,
                    help="nominal image side in pixels: scans vary from about 0.4x to 2x of it, like BUSI's (default: %(default)s)")
    ph.add_argument("--counts", default=None, metavar="benign=N,normal=N,malignant=N",
                    help="images per class (default: BUSI's benign=437,normal=133,malignant=210)")
    ph.add_argument("--no-masks", action="store_true", help="do not write the lesion masks")
    ph.set_defaults(func=cmd_phantom)

    from helpers.data.busi_fetch import BUSI_URL

    bu = sub.add_parser("busi", help="the BUSI dataset: official archive, another URL, or your copy",
                        formatter_class=fmt, description=(
                            "Get BUSI into <dest>/Dataset_BUSI_with_GT/{benign,malignant,normal}/ "
                            "(masks beside images)\nand report its class counts against the release "
                            "(437 / 210 / 133).\n\nThe archive (about 200 MB) downloads to "
                            "<dest>/Dataset_BUSI.zip; an interrupted download resumes\nwhen the "
                            "command is run again. No checksum is published for it: the size the "
                            "server\nannounces is verified. Entries that would land outside <dest> are "
                            "refused."),
                        epilog=("examples:\n  python data_download.py busi --dest data/busi\n"
                                "  python data_download.py busi --dest data/busi --from archive.zip\n"
                                "  python data_download.py busi --from ~/data/busi-256 --in-place"))
    common(bu, "busi")
    bu.add_argument("--url", default=BUSI_URL, help="where to download the zip from (default: %(default)s)")
    bu.add_argument("--from", dest="from_path", default=None, metavar="PATH",
                    help="use a BUSI zip archive or folder you already have (e.g. Kaggle's "
                         "'Breast Ultrasound Images Dataset' archive, or a resized copy) instead of "
                         "downloading; it is unpacked/copied into --dest")
    bu.add_argument("--in-place", action="store_true",
                    help="with --from FOLDER: check the folder and use it where it is (no copy)")
    bu.add_argument("--remove-archive", action="store_true",
                    help="delete the downloaded zip after it is unpacked (default: keep it)")
    bu.add_argument("--no-check", action="store_true",
                    help="count the images without decoding each one (faster; corrupt files show later)")
    bu.add_argument("--skip-bad", action="store_true",
                    help="leave unreadable images out (listed) instead of stopping at the first one")
    bu.set_defaults(func=cmd_busi)

    from helpers.data.breastmnist import SIZES

    bm = sub.add_parser("breastmnist", help="MedMNIST's BreastMNIST npz (28/64/128/224 px), MD5-checked",
                        formatter_class=fmt, description=(
                            "Download BreastMNIST (MedMNIST v3, Zenodo record 10519652) at one size, "
                            "check its MD5,\nand unpack it to <dest>/{benign,malignant}/<split>_<i>.png "
                            "plus <dest>/splits.csv\n(MedMNIST's train/val/test split). 'benign' is "
                            "MedMNIST's label 1 ('normal, benign'),\n'malignant' its label 0."),
                        epilog="example:\n  python data_download.py breastmnist --size 64 --dest data/breastmnist-64")
    common(bm, "breastmnist", dest_help="folder to write into (default: data/breastmnist for 28 px, "
                                        "data/breastmnist-<size> otherwise)")
    bm.add_argument("--size", type=int, choices=SIZES, default=28, help="image side in pixels (default: 28)")
    bm.add_argument("--url", default=None, help="download from here instead of Zenodo")
    bm.add_argument("--md5", default=None,
                    help="expected MD5 (default: MedMNIST's published one for --size; '' skips the check)")
    bm.add_argument("--from", dest="from_path", default=None, metavar="FILE.npz",
                    help="use an npz you already have instead of downloading (its MD5 is checked)")
    bm.set_defaults(func=cmd_breastmnist)
    _minimias_parser(sub, common, fmt)
    _breakhis_parser(sub, common, fmt)
    return p


def _minimias_parser(sub, common, fmt) -> None:
    from helpers.data.minimias import MIAS_URL

    mi = sub.add_parser("minimias", help="the MIAS mammograms (normal vs abnormal): all-mias.tar.gz or your copy",
                        formatter_class=fmt, description=(
                            "Get mini-MIAS into <dest>/all-mias/: images/mdb001.png ... (the 1024x1024 PGM films "
                            "converted\nto PNG at full resolution) and Info.txt, and report 207 normal / 115 "
                            "abnormal images of\n161 women. The tar archive is checked before extraction (no "
                            "absolute paths, no '..',\nno links or devices, size and compression limits). A "
                            "folder already holding Info.txt and\nimages/mdbNNN.png (any size) can be used "
                            "as is with --from FOLDER --in-place.\nLicence: research use; cite Suckling et al. "
                            "1994 when you publish."),
                        epilog=("examples:\n  python data_download.py minimias --dest data/minimias\n"
                                "  python data_download.py minimias --from all-mias.tar.gz --dest data/minimias\n"
                                "  python data_download.py minimias --from ~/data/mini-mias --in-place"))
    common(mi, "minimias")
    mi.add_argument("--url", default=MIAS_URL, help="where to download the archive from (default: %(default)s)")
    mi.add_argument("--from", dest="from_path", default=None, metavar="PATH",
                    help="use all-mias.tar.gz (or a zip) or a folder you already have instead of downloading")
    mi.add_argument("--in-place", action="store_true",
                    help="with --from FOLDER holding Info.txt and images/*.png: check it and use it where it is")
    mi.add_argument("--remove-archive", action="store_true", help="delete the downloaded archive after conversion")
    mi.add_argument("--no-check", action="store_true", help="do not decode every image of an --in-place folder")
    mi.add_argument("--skip-bad", action="store_true",
                    help="leave missing or unreadable images out (listed) instead of stopping")
    mi.set_defaults(func=cmd_minimias)


def _breakhis_parser(sub, common, fmt) -> None:
    bh = sub.add_parser("breakhis", help="BreakHis histopathology from your archive or folder (--from)",
                        formatter_class=fmt, description=(
                            "Unpack BreakHis (BreaKHis_v1.tar.gz, a zip, or a folder) into <dest>/BreaKHis_v1/ "
                            "in the official\nlayout histology_slides/breast/{benign,malignant}/SOB/<subtype>/"
                            "<patient>/<mag>X/*.png,\nkeeping one magnification or all, and report images per "
                            "class and magnification and the\n82 patients. Use the folder with --dataset breakhis "
                            "(benign vs malignant) or breakhis8\n(the eight subtypes); splits keep each patient "
                            "whole. Images stay RGB on disk."),
                        epilog=("examples:\n  python data_download.py breakhis --from BreaKHis_v1.tar.gz --dest "
                                "data/breakhis\n  python data_download.py breakhis --from ~/BreaKHis_v1 --in-place"))
    common(bh, "breakhis")
    bh.add_argument("--from", dest="from_path", default=None, metavar="PATH",
                    help="BreaKHis_v1.tar.gz (or a zip) or a folder holding the official layout")
    bh.add_argument("--magnification", choices=["40", "100", "200", "400", "all"], default="all",
                    help="keep only this magnification (default: all)")
    bh.add_argument("--in-place", action="store_true",
                    help="with --from FOLDER: check it and use it where it is (every magnification)")
    bh.add_argument("--no-check", action="store_true", help="do not decode every image")
    bh.add_argument("--skip-bad", action="store_true", help="leave unreadable images out (listed) instead of stopping")
    bh.set_defaults(func=cmd_breakhis)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DataError as e:  # a user error: one line, status 2 (as `python -m helpers`)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}. Check the path and free disk space, then run the command again.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue where it stopped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
