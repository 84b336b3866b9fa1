"""The phantom set on disk: made for a run when its folder lacks it (`make_for_run`), or by
`data_download.py phantom` (`DOWNLOAD`). Where phantoms may be written is
`helpers.data.phantom_folder`; how they are drawn is `helpers.data.phantom`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from helpers.data.busi_fetch import EXPECTED_COUNTS as BUSI_COUNTS
from helpers.data.dataset import Download
from helpers.data.folders import scan_class_folders
from helpers.data.phantom_folder import CLASSES, ensure_phantom
from helpers.errors import DataError

HINT = "Generate it with `python data_download.py phantom --dest DIR`."


def make_for_run(cfg, progress: bool = True) -> None:
    """The run's phantom set in `cfg.data_dir` (the profile's counts and size), made or finished
    there unless it is already complete; a folder the course did not make is refused."""
    ensure_phantom(cfg.data_dir, cfg.phantom_counts, cfg.phantom_size, seed=0, progress=progress)


def parse_counts(text: str) -> dict:
    counts = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or key not in CLASSES or not value.strip().isdigit():
            raise DataError(f"--counts {text!r}: expected CLASS=N for each of "
                            f"{', '.join(CLASSES)}, e.g. benign=437,normal=133,malignant=210.")
        counts[key] = int(value)
    missing = [c for c in CLASSES if c not in counts]
    if missing or min(counts.values()) < 1:
        raise DataError(f"--counts {text!r}: give at least one image for every class "
                        f"({', '.join(CLASSES)}); the readers need all of them.")
    return counts


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--size", type=int, default=512,
                   help="nominal image side in pixels: scans vary from about 0.4x to 2x of it, like BUSI's "
                        "(default: %(default)s)")
    p.add_argument("--counts", default=None, metavar="benign=N,normal=N,malignant=N",
                   help="images per class (default: BUSI's benign=437,normal=133,malignant=210)")
    p.add_argument("--no-masks", action="store_true", help="do not write the lesion masks")


def _run(args: argparse.Namespace) -> Path:
    dest = Path(args.dest).expanduser()
    counts = parse_counts(args.counts) if args.counts else {c: BUSI_COUNTS[c] for c in CLASSES}
    if args.size < 16:
        raise DataError(f"--size {args.size}: phantoms need at least 16 px.")
    t0 = time.perf_counter()
    # Refuses a folder it did not make (real images are never overwritten); finishes an
    # interrupted set; remakes a set made with other settings or an older phantom version.
    wrote = ensure_phantom(dest, counts, args.size, seed=args.seed, masks=not args.no_masks, progress=not args.quiet,
                           option="--dest")
    found = scan_class_folders(dest, list(CLASSES), "phantom", check=False, hint=HINT,
                               progress=False)["class_name"].value_counts()
    found = {c: int(found.get(c, 0)) for c in CLASSES}
    if found != counts:
        raise DataError(f"{dest} holds {found} images, not the {counts} asked for: files were added or "
                        "removed while it ran. Delete the folder and run the command again.")
    state = f"written in {time.perf_counter() - t0:.1f} s" if wrote else "already there"
    print(f"Phantom set ready: {sum(found.values())} images ({', '.join(f'{c} {n}' for c, n in found.items())}), "
          f"{args.size} px, seed {args.seed}, in {dest} ({state}).")
    return dest


DOWNLOAD = Download(
    command="phantom",
    help="procedural ultrasound-like images (offline, deterministic)",
    summary=("procedural, BUSI-like ultrasound images made in code: offline, deterministic\n"
             "by seed, 437 benign / 133 normal / 210 malignant by default. The default\n"
             "dataset of the course (the notebooks also make it on their own when missing)."),
    examples=("python data_download.py phantom --dest data/phantom",
              "python data_download.py phantom --dest /tmp/tiny --size 64 --counts benign=20,normal=10,malignant=10"),
    description=("Write procedural BUSI-like phantoms in the BUSI layout: <dest>/<class>/<class> (i).png with "
                 "<class> (i)_mask.png beside.\nDeterministic in (seed, class, index): re-running finishes an "
                 "interrupted run, and larger counts add images without changing existing ones."),
    epilog="example:\n  python data_download.py phantom --dest data/phantom --size 128",
    add_arguments=_arguments,
    run=_run,
)
