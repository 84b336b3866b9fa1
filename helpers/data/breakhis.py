"""BreakHis (Spanhol et al., IEEE TBME 2016): breast tumour histopathology, the cWGAN study's data.

7,909 RGB images (700x460 PNG) of 82 patients at four magnifications, in the official layout
`BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/`.
Every file name says what it is: `SOB_B_A-14-22549AB-40-001.png` is biopsy method SOB, B(enign)
or M(alignant), subtype (A, F, PT, TA: adenosis, fibroadenoma, phyllodes tumour, tubular
adenoma; DC, LC, MC, PC: ductal, lobular, mucinous, papillary carcinoma), patient
`14-22549AB`, magnification 40 (100, 200, 400), image 001.

Records carry `patient`, and `prepare` keeps each patient's images in one group: every
patient gives dozens of images of one tumour, so a random image-level split puts the same
tumour on both sides and measures recognition of patients, not of malignancy.
Tasks: `breakhis` (benign / malignant) and `breakhis8` (the eight subtypes). The course reads
them as RGB (their registry records say 3 channels: uint8 (N, H, W, 3)), since the stain's colour
carries the diagnosis; near-duplicate thumbnails are compared grey. Without a copy, the
drawn stand-in of `helpers.data.breakhis_standin` has the same layout (not data).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path, PurePath

import pandas as pd
from tqdm.auto import tqdm

from helpers.data.extract import unpack
from helpers.data.fetch import Download, fetch_release, release_arguments, release_options
from helpers.data.images import check_image, checked_size
from helpers.data.records import DataError, make_records

FOLDER = "BreaKHis_v1"
TUMOUR = {"B": "benign", "M": "malignant"}
SUBTYPES = {"A": "adenosis", "F": "fibroadenoma", "PT": "phyllodes_tumor", "TA": "tubular_adenoma",
            "DC": "ductal_carcinoma", "LC": "lobular_carcinoma", "MC": "mucinous_carcinoma", "PC": "papillary_carcinoma"}
BENIGN_SUBTYPES = ("A", "F", "PT", "TA")
MAGNIFICATIONS = (40, 100, 200, 400)
TASKS = {"binary": "breakhis", "subtype": "breakhis8"}  # task -> dataset name
# Each task's classes in label order: benign first, then the subtypes benign first.
TASK_CLASSES = {"binary": tuple(TUMOUR.values()), "subtype": tuple(SUBTYPES.values())}
# The release (the dataset's web page): images per class and magnification, patients.
EXPECTED = {"benign": 2480, "malignant": 5429}
EXPECTED_PER_MAG = {40: 1995, 100: 2081, 200: 2013, 400: 1820}
N_PATIENTS = 82
_NAME = re.compile(r"SOB_([BM])_([A-Z]{1,2})-(\d+-[0-9A-Z]+)-(\d+)-(\d+)\.png", re.IGNORECASE)
HINT = "Unpack it with `python data_download.py breakhis --from BreaKHis_v1.tar.gz --dest DIR`."


def parse_name(name: str) -> dict | None:
    """tumour, subtype, patient, magnification, index from a BreakHis file name (None if the
    name is not one); a subtype that contradicts B/M is an error naming the file."""
    m = _NAME.fullmatch(name)
    if not m:
        return None
    bm, code, patient, mag, index = m.group(1).upper(), m.group(2).upper(), m.group(3).upper(), int(m.group(4)), \
        int(m.group(5))
    if code not in SUBTYPES or (code in BENIGN_SUBTYPES) != (bm == "B") or mag not in MAGNIFICATIONS:
        raise DataError(f"{name}: subtype {code!r} with {TUMOUR[bm]} at {mag}X is not a BreakHis combination "
                        f"(benign: A F PT TA; malignant: DC LC MC PC; 40/100/200/400X). Rename or remove the file.")
    return dict(tumour=TUMOUR[bm], subtype=SUBTYPES[code], patient=patient, magnification=mag, index=index)


def _magnifications(magnification) -> tuple:
    if magnification in (None, "all"):
        return MAGNIFICATIONS
    if int(magnification) not in MAGNIFICATIONS:
        raise DataError(f"Magnification {magnification!r}: BreakHis has 40, 100, 200 and 400 (or 'all').")
    return (int(magnification),)


def wanted(name: str, magnification=None) -> bool:
    """A BreakHis image at one of the chosen magnifications (by its file name)."""
    info = parse_name(PurePath(name).name)
    return info is not None and info["magnification"] in _magnifications(magnification)


def read_breakhis(data_dir: str | Path, task: str = "binary", magnification=None, check: bool = True,
                  skip_bad: bool = False, progress: bool = True) -> pd.DataFrame:
    """Record table of the BreakHis images under `data_dir` (any depth), for the binary task
    or the eight subtypes, at one magnification or all."""
    if task not in TASKS:
        raise DataError(f"BreakHis task {task!r}: choose 'binary' (benign/malignant) or 'subtype' (eight classes).")
    mags = _magnifications(magnification)
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"BreakHis folder {root} {'does not exist' if not root.exists() else 'is not a folder'}. "
                        f"{HINT}")
    rows, skipped = [], []
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for p in tqdm(files, desc="checking breakhis", unit="img", disable=not (progress and check), leave=False):
        info = parse_name(p.name)
        if info is None or info["magnification"] not in mags:
            continue
        other = TUMOUR["M"] if info["tumour"] == TUMOUR["B"] else TUMOUR["B"]
        if other in {q.lower() for q in p.relative_to(root).parts[:-1]}:
            raise DataError(f"{p} is named {info['tumour']} but lies in a folder of the other class. Restore the "
                            f"official layout. {HINT}")
        size = checked_size(p, check, skip_bad, skipped)
        if size is None:
            continue
        w, h = size
        cls = info["tumour"] if task == "binary" else info["subtype"]
        rows.append(dict(path=str(p), class_name=cls, **info, width=w, height=h))
    if not rows:
        at = "" if magnification in (None, "all") else f" at {magnification}X"
        raise DataError(f"No BreakHis images{at} (named like SOB_B_A-14-22549AB-40-001.png) under {root}. {HINT}")
    df = make_records(rows, TASKS[task], TASK_CLASSES[task], skipped=skipped, root=root)
    df["group"] = pd.factorize(df["patient"])[0]  # a patient is a group until prepare joins near-duplicates
    return df


def read_dataset(data_dir: str | Path, dataset, *, check: bool = True, skip_bad: bool = False,
                 progress: bool = True) -> pd.DataFrame:
    """The registry's reader for `breakhis` (benign / malignant) and `breakhis8` (the subtypes)."""
    task = next(t for t, name in TASKS.items() if name == dataset.name)
    return read_breakhis(data_dir, task=task, check=check, skip_bad=skip_bad, progress=progress)


def count_report(df: pd.DataFrame, root: str | None = None) -> str:
    """Images per tumour class and magnification, patients, subtypes, beside the release."""
    lines = [f"BreakHis images in {root}:" if root else "BreakHis images:",
             f"  {'magnification':<14}{'benign':>8}{'malignant':>11}{'total':>8}{'release':>9}"]
    for mag in sorted(df["magnification"].unique()):
        d = df[df["magnification"] == mag]["tumour"].value_counts()
        lines.append(f"  {f'{mag}X':<14}{d.get('benign', 0):>8}{d.get('malignant', 0):>11}{d.sum():>8}"
                     f"{EXPECTED_PER_MAG[mag]:>9}")
    t = df["tumour"].value_counts()
    lines.append(f"  {'all':<14}{t.get('benign', 0):>8}{t.get('malignant', 0):>11}{len(df):>8}"
                 f"{sum(EXPECTED_PER_MAG[m] for m in df['magnification'].unique()):>9}")
    pats = df.groupby("tumour")["patient"].nunique()
    lines.append(f"  patients: {df['patient'].nunique()} ({pats.get('benign', 0)} benign, {pats.get('malignant', 0)} "
                 f"malignant; the release has {N_PATIENTS})")
    lines.append("  subtypes: " + ", ".join(f"{k} {v}" for k, v in df["subtype"].value_counts().items()))
    full = set(df["magnification"]) == set(MAGNIFICATIONS)
    if full and t.to_dict() == EXPECTED and df["patient"].nunique() == N_PATIENTS:
        lines.append("Counts match the BreakHis release.")
    elif all(len(df[df["magnification"] == m]) == EXPECTED_PER_MAG[m] for m in df["magnification"].unique()):
        lines.append("Counts match the release for the magnifications kept.")
    else:
        lines.append("WARNING: counts differ from the release (7,909 images: 2,480 benign / 5,429 malignant, 82 "
                     "patients): this copy is incomplete or edited; results on it are not comparable.")
    return "\n".join(lines)


def _release_root(folder: Path) -> Path:
    """`BreaKHis_v1/` (or the folder holding `histology_slides/`) inside `folder`, else itself."""
    for cand in [folder, *sorted(folder.rglob("histology_slides"))[:1]]:
        if cand.name == "histology_slides":
            return cand.parent
        if (cand / "histology_slides").is_dir():
            return cand
    return folder


def _check(path: Path) -> None:
    if path.suffix.lower() == ".png":
        check_image(path)


def fetch_breakhis(dest: str | Path, from_path: str | Path | None, magnification=None, in_place: bool = False,
                   check: bool = True, progress: bool = True, skip_bad: bool = False) -> dict:
    """Unpack (or copy) the user's BreakHis archive or folder to `<dest>/BreaKHis_v1/`, keeping
    the chosen magnification(s), or use a folder `in_place`. Returns `data_dir`, `counts`, `report`."""
    if from_path is None:  # no stable public URL to download from
        raise DataError("breakhis needs --from: download BreaKHis_v1.tar.gz from the dataset's page (UFPR, "
                        "web.inf.ufpr.br/vri/databases-software/breast-cancer-histopathological-database-breakhis) "
                        "and pass it with --from.")
    mags = _magnifications(magnification)
    dest = Path(dest).expanduser()
    if in_place and len(mags) < len(MAGNIFICATIONS):
        raise DataError("--magnification keeps a subset by copying; with --in-place every magnification is "
                        "read. Drop --in-place (or --magnification).")
    make = partial(unpack, select=_release_root, keep=lambda name: wanted(str(name), magnification),
                   progress=progress, check=_check if check else None, skip_bad=skip_bad,
                   validate=partial(read_breakhis, magnification=magnification, check=False, progress=False))
    data_dir = fetch_release(dest / FOLDER, make, from_path=from_path, in_place=in_place, progress=progress,
                             give="Give BreaKHis_v1.tar.gz (or a zip) or the folder holding BreaKHis_v1/.")
    df = read_breakhis(data_dir, check=check and in_place, skip_bad=skip_bad, progress=progress)
    have = tuple(sorted(df["magnification"].unique()))
    if set(have) - set(mags):  # a folder finished earlier with other magnifications
        raise DataError(f"{data_dir} holds magnifications {', '.join(f'{m}X' for m in have)}, not the "
                        f"{', '.join(f'{m}X' for m in mags)} asked for. Choose another --dest (e.g. "
                        f"{dest.parent / f'breakhis-{mags[0]}x'}), or delete {data_dir}.")
    return dict(data_dir=Path(data_dir), counts=df["tumour"].value_counts().to_dict(),
                patients=int(df["patient"].nunique()), report=count_report(df, str(data_dir)))


def _arguments(p) -> None:
    release_arguments(p, "BreaKHis_v1.tar.gz (or a zip) or a folder holding the official layout",
                      "with --from FOLDER: check it and use it where it is (every magnification)")
    p.add_argument("--magnification", choices=["40", "100", "200", "400", "all"], default="all",
                   help="keep only this magnification (default: all)")


DOWNLOAD = Download(
    command="breakhis",
    help="BreakHis histopathology from your archive or folder (--from)",
    summary=("BreakHis histopathology (Spanhol et al. 2016; 7,909 RGB images of 82\n"
             "patients, benign vs malignant or 8 subtypes, the cWGAN study's data): unpacks\n"
             "the BreaKHis_v1 archive you have (--from) to <dest>/BreaKHis_v1/."),
    examples=("python data_download.py breakhis --from ~/Downloads/BreaKHis_v1.tar.gz --dest data/breakhis",
              "python data_download.py breakhis --from BreaKHis_v1.tar.gz --magnification 40 --dest data/breakhis-40x",
              "python data_download.py breakhis --from ~/BreaKHis_v1 --in-place"),
    description=("Unpack BreakHis (BreaKHis_v1.tar.gz, a zip, or a folder) into <dest>/BreaKHis_v1/ in the official\n"
                 "layout histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/*.png,\n"
                 "keeping one magnification or all, and report images per class and magnification and the\n"
                 "82 patients. Use the folder with --dataset breakhis (benign vs malignant) or breakhis8\n"
                 "(the eight subtypes); splits keep each patient whole. Images stay RGB on disk."),
    add_arguments=_arguments,
    run=lambda args: fetch_breakhis(args.dest, magnification=args.magnification, **release_options(args)),
    note="For the eight subtypes use --dataset breakhis8 with the same folder.",
)
