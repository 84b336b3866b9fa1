"""Getting BUSI onto disk: the official archive, another URL, or a copy the user already has.

The result is `<dest>/Dataset_BUSI_with_GT/{benign,malignant,normal}/` (masks beside the
images, as released), which `load_records("busi", dest)` reads. `DOWNLOAD` is its
`data_download.py busi` sub-command. No checksum is published
for the archive, so what can be verified is the size the server announces and, after
unpacking, the class counts of the release (437 benign / 210 malignant / 133 normal).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from urllib.parse import urlparse

from helpers.data.extract import unpack
from helpers.data.fetch import Download, fetch_release, release_arguments, release_options
from helpers.data.folders import find_class_root, scan_class_folders
from helpers.data.images import CorruptImageError, check_image, is_image_file
from helpers.data.records import DataError

BUSI_URL = "https://scholar.cu.edu.eg/Dataset_BUSI.zip"
FOLDER = "Dataset_BUSI_with_GT"
# Al-Dhabyani et al., Data in Brief 28:104863 (2020).
EXPECTED_COUNTS = {"benign": 437, "malignant": 210, "normal": 133}
CLASSES = ("benign", "normal", "malignant")  # in label order, as the WGAN study numbered them
HINT = "Download it with `python data_download.py busi --dest DIR` (or `--from` an archive you have)."


# The folder under an archive or a copy holding the class folders, in one or more wrappers.
find_class_root_deep = partial(find_class_root, classes=CLASSES, depth=4, hint="Is this the BUSI dataset? "
                               "Expected e.g. Dataset_BUSI_with_GT/benign/benign (1).png.")


def _image_check(path: Path) -> None:
    """What extraction and copying check on each file: images must decode (masks too)."""
    if is_image_file(path):
        check_image(path)


def fetch_busi(dest: str | Path, url: str = BUSI_URL, from_path: str | Path | None = None,
               in_place: bool = False, keep_archive: bool = True, check: bool = True,
               progress: bool = True, skip_bad: bool = False) -> dict:
    """Put BUSI under `dest` (or accept `from_path` where it is) and check its class counts.

    Every image is decoded before a copy or an extraction is marked complete (unless
    `check` is false); with `skip_bad` unreadable images are left out instead of stopping.
    Returns a dict with `data_dir` (what to pass as the data folder), `counts`, `expected`,
    `matches` and a printable `report`.
    """
    dest = Path(dest).expanduser()
    name = Path(urlparse(url).path).name
    make = partial(unpack, select=find_class_root_deep, keep=is_image_file, progress=progress,
                   check=_image_check if check else None, skip_bad=skip_bad)
    root = fetch_release(dest / FOLDER, make, from_path=from_path, in_place=in_place,
                         give="Give the BUSI zip archive or the folder holding benign/, malignant/, normal/.",
                         find=find_class_root_deep, url=url, keep_archive=keep_archive, progress=progress,
                         archive_name=name if name.lower().endswith(".zip") else "Dataset_BUSI.zip")
    data_dir = root if in_place else dest
    try:
        df = scan_class_folders(data_dir, list(CLASSES), "busi", check=check and in_place, skip_bad=skip_bad,
                                hint=HINT, progress=progress)
    except CorruptImageError as e:
        raise DataError(f"{str(e).split(' Re-download')[0]} Delete or replace that file, or run again with "
                        "--skip-bad to leave unreadable images out.") from None
    counts = {c: int((df["class_name"] == c).sum()) for c in CLASSES}
    result = dict(data_dir=Path(data_dir), counts=counts, expected=dict(EXPECTED_COUNTS),
                  matches=counts == {c: EXPECTED_COUNTS[c] for c in CLASSES})
    n_masked = int((df["n_masks"] > 0).sum()) if "n_masks" in df else 0
    result["report"] = count_report(counts, EXPECTED_COUNTS, n_masked=n_masked, root=df.attrs.get("root"))
    return result


def count_report(counts: dict, expected: dict, n_masked: int = 0, root: str | None = None) -> str:
    """A small table of images per class against the release, with a verdict."""
    lines = [f"BUSI images in {root}:" if root else "BUSI images:",
             f"  {'class':<10}{'found':>7}{'expected':>10}{'diff':>7}"]
    for c in CLASSES:
        d = counts.get(c, 0) - expected[c]
        lines.append(f"  {c:<10}{counts.get(c, 0):>7}{expected[c]:>10}{d:>+7d}")
    total, want = sum(counts.values()), sum(expected.values())
    lines.append(f"  {'total':<10}{total:>7}{want:>10}{total - want:>+7d}")
    if n_masked:
        lines.append(f"  {n_masked} of {total} images have a mask file beside them (masks are not "
                     "counted as images).")
    if all(counts.get(c, 0) == expected[c] for c in CLASSES):
        lines.append("Class counts match the official release.")
    else:
        lines.append("WARNING: class counts differ from the official release (437 benign / 210 "
                     "malignant / 133 normal). This copy may be a subset, be cleaned of duplicates, or "
                     "be incomplete; results on it are not comparable with published ones. Re-download "
                     "it, or go on knowingly.")
    return "\n".join(lines)


def _arguments(p) -> None:
    release_arguments(p, "use a BUSI zip archive or folder you already have (e.g. Kaggle's 'Breast "
                         "Ultrasound Images Dataset' archive, or a resized copy) instead of downloading; it "
                         "is unpacked/copied into --dest",
                      "with --from FOLDER: check the folder and use it where it is (no copy)", BUSI_URL)


DOWNLOAD = Download(
    command="busi",
    help="the BUSI dataset: official archive, another URL, or your copy",
    summary=("the Breast Ultrasound Images dataset (Al-Dhabyani et al., Data in Brief 2020):\n"
             "downloads the official archive, or takes an archive/folder you already have\n"
             "(--from), unpacks it to <dest>/Dataset_BUSI_with_GT/, and checks the class\n"
             "counts against the release (437 benign / 210 malignant / 133 normal)."),
    examples=("python data_download.py busi --dest data/busi",
              "python data_download.py busi --dest data/busi --from ~/Downloads/archive.zip     # the Kaggle copy",
              "python data_download.py busi --from ~/data/busi-256 --in-place                   # use a folder as is"),
    description=("Get BUSI into <dest>/Dataset_BUSI_with_GT/{benign,malignant,normal}/ (masks beside images)\n"
                 "and report its class counts against the release (437 / 210 / 133).\n\nThe archive (about "
                 "200 MB) downloads to <dest>/Dataset_BUSI.zip; an interrupted download resumes\nwhen the command "
                 "is run again. No checksum is published for it: the size the server\nannounces is verified. "
                 "Entries that would land outside <dest> are refused."),
    add_arguments=_arguments,
    run=lambda args: fetch_busi(args.dest, **release_options(args)),
)
