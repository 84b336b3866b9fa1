"""The phantom set on disk: where it may be written, made for a run when its folder lacks it
(`make_for_run`), or by `data_download.py phantom` (`DOWNLOAD`). How phantoms are drawn is
`helpers.data.phantom`.

The phantom is generated only into a folder that is missing, empty, or carries the phantom's
own marker file (`.phantom.json`, written here). Anything else may be a user's real images,
so it is refused with a message that says what was found there; nothing in it is touched.
Inside a marked folder only files named like phantoms (`<class> (i).png`, `..._mask.png`)
are ever replaced or removed.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from helpers.data.busi_fetch import EXPECTED_COUNTS as BUSI_COUNTS
from helpers.data.fetch import Download
from helpers.data.folders import scan_class_folders
from helpers.data.images import is_image_file, is_mask
from helpers.errors import DataError

MARKER = ".phantom.json"
CLASSES = ("benign", "normal", "malignant")
HINT = "Generate it with `python data_download.py phantom --dest DIR`."


def version() -> int:
    from helpers.data import phantom

    return int(getattr(phantom, "PHANTOM_VERSION", 1))


def settings(counts: dict, size: int, seed: int) -> dict:
    """What the marker records: the images are a function of exactly these."""
    return dict(counts={c: int(counts[c]) for c in CLASSES}, size=int(size), seed=int(seed), version=version())


def read_marker(folder: Path) -> dict | None:
    path = Path(folder) / MARKER
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise DataError(f"{path} is not a readable phantom marker. If {folder} holds only phantoms, delete the "
                        "folder and run again; otherwise remove the marker file.") from None


def _visible(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def describe(folder: Path, limit: int = 100_000) -> str:
    """'780 images (437 in benign/, 210 in malignant/, 133 in normal/) and 780 mask files'."""
    images, masks, per_top = 0, 0, {}
    for i, p in enumerate(folder.rglob("*")):
        if i > limit:
            break
        if p.is_file() and is_image_file(p):
            if is_mask(p):
                masks += 1
                continue
            images += 1
            top = p.relative_to(folder).parts[0] if p.parent != folder else "."
            per_top[top] = per_top.get(top, 0) + 1
    if not images:
        names = [p.name for p in _visible(folder)]
        return f"{len(names)} item(s) (e.g. {', '.join(repr(n) for n in names[:3])})"
    where = ", ".join(f"{n} in {t}/" if t != "." else f"{n} at the top" for t, n in sorted(per_top.items()))
    return f"{images} images ({where})" + (f" and {masks} mask files" if masks else "")


def check_writable(folder: str | Path, option: str = "--data-dir") -> dict | None:
    """The folder's marker (None when missing or empty); DataError for any other folder."""
    folder = Path(folder).expanduser()
    if folder.is_symlink() and not folder.exists():
        raise DataError(f"{folder} is a symbolic link that leads nowhere (a broken link or a loop); point {option} "
                        "at a real folder, or remove the link.")
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder; give a folder for the phantom images ({option}).")
    old = read_marker(folder) if folder.exists() else None
    if old is None and folder.exists() and _visible(folder):
        raise DataError(
            f"{folder} is not a phantom folder: it holds {describe(folder)} and no phantom marker ({MARKER}), so "
            "the course will not write phantoms into it. To use these images pass --dataset busi (or "
            f"COURSE_DATASET=busi in the notebooks); for phantoms give a new or empty {option}.")
    return old


def _phantom_files(folder: Path, counts: dict | None = None):
    """Files in the class folders named like phantoms (beyond `counts` when given)."""
    for cls in CLASSES:
        pattern = re.compile(rf"{cls} \((\d+)\)(_mask)?\.png")
        d = folder / cls
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = pattern.fullmatch(p.name)
            if m and (counts is None or int(m.group(1)) > counts[cls]):
                yield p


def ensure_phantom(folder: str | Path, counts: dict, size: int, seed: int = 0, masks: bool = True,
                   progress: bool = True, option: str = "--data-dir") -> bool:
    """Make `folder` hold exactly the phantom set of these settings; True if anything was written.

    Refuses (DataError) a folder the course did not make. A marked folder made with other
    settings or an older phantom is brought up to date; an interrupted one is finished."""
    from helpers.data.phantom import write_phantom_dataset

    folder = Path(folder).expanduser()
    old = check_writable(folder, option)
    want = settings(counts, size, seed)
    if old == want:
        return False
    if old is not None and any(old.get(k) != want[k] for k in ("size", "seed", "version")):
        for p in list(_phantom_files(folder)):  # other pixels: only our own files are removed
            p.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a link loop above it, a read-only disk, a file in the way
        raise DataError(f"Cannot create the phantom folder {folder} ({e.strerror or e}); point {option} at a folder "
                        "you can write to.") from None
    (folder / MARKER).write_text(json.dumps({**want, "complete": False}))  # until every image is written
    write_phantom_dataset(folder, want["counts"], seed=seed, size=size, masks=masks, progress=progress)
    for p in list(_phantom_files(folder, want["counts"])):  # a larger earlier set: drop the extra images
        p.unlink()
    (folder / MARKER).write_text(json.dumps(want))
    return True


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


def _arguments(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--size", type=int, default=512,
                   help="nominal image side in pixels: scans vary from about 0.4x to 2x of it, like BUSI's "
                        "(default: %(default)s)")
    p.add_argument("--counts", default=None, metavar="benign=N,normal=N,malignant=N",
                   help="images per class (default: BUSI's benign=437,normal=133,malignant=210)")
    p.add_argument("--no-masks", action="store_true", help="do not write the lesion masks")


def _run(args) -> dict:
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
    return dict(data_dir=dest, report=f"Phantom set ready: {sum(found.values())} images ("
                f"{', '.join(f'{c} {n}' for c, n in found.items())}), {args.size} px, seed {args.seed}, in "
                f"{dest} ({state}).")


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
    add_arguments=_arguments,
    run=_run,
)
