"""mini-MIAS: the MIAS mammography database (Suckling et al. 1994), normal vs abnormal.

The release (`all-mias.tar.gz`) holds 322 films `mdb001.pgm` ... `mdb322.pgm` (1024x1024,
8-bit), `Info.txt`, `README` and `Licence.txt`. `Info.txt` lists one line per abnormality:
reference, background tissue (F/G/D), class (CALC CIRC SPIC MISC ARCH ASYM NORM), severity
(B/M), x, y, radius (1024 px, origin bottom-left); an image with several abnormalities has
several lines, and a few lines have no coordinates. Films come in pairs of one woman:
mdb001 (right, odd) and mdb002 (left, even) are patient 1, and so on.

`fetch_minimias` (`data_download.py minimias`) puts the release under `<dest>/all-mias/` with
the films converted to PNG at full resolution (`images/mdbNNN.png`), `Info.txt` unchanged.
`read_minimias` reads that folder, or any folder holding `Info.txt` and `images/mdbNNN.png`
at another size (e.g. a resized copy), in place. Records carry `patient`, which `prepare`
keeps together in one group. Cite the database when you report results on it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from helpers.data.extract import publish_folder, safe_extract, temp_sibling
from helpers.data.fetch import Download, fetch_release, release_arguments, release_options
from helpers.data.images import checked_size, to_gray8
from helpers.data.records import DataError, make_records

# NORM vs any abnormality (the DDPM study's task on INbreast), in label order.
CLASSES = ("normal", "abnormal")
ABNORMALITIES = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM")
TISSUES = ("F", "G", "D")
# Counted from the release's Info.txt: 322 images of 161 women.
EXPECTED = {"normal": 207, "abnormal": 115}
N_PATIENTS = 161
_REF = re.compile(r"mdb\d{3}")
MIAS_URL = "http://peipa.essex.ac.uk/pix/mias/all-mias.tar.gz"
FOLDER = "all-mias"
HINT = "Download it with `python data_download.py minimias --dest DIR` (or `--from` all-mias.tar.gz or a copy)."


def parse_info(path: str | Path) -> pd.DataFrame:
    """One row per data line of Info.txt: ref, tissue, abnormality, severity, x, y, radius.
    Lines before the table (the header) are skipped; a data line that does not parse is an
    error naming its line number."""
    path = Path(path)
    rows = []
    for no, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        tok = line.split()
        if not tok or not _REF.fullmatch(tok[0]):
            continue
        if len(tok) < 3 or tok[1] not in TISSUES or tok[2] not in ABNORMALITIES:
            raise DataError(f"{path}, line {no}: {line.strip()!r} is not a MIAS entry (reference, tissue F/G/D, "
                            f"class {'/'.join(ABNORMALITIES)}, ...). Restore Info.txt from the release.")
        rest = tok[3:]
        severity = rest.pop(0) if rest and rest[0] in ("B", "M") else ""
        nums = [int(t) for t in rest[:3] if t.isdigit()]
        xyz = nums if len(nums) == 3 else [None] * 3  # "*NOTE 3*": calcifications spread widely
        rows.append(dict(ref=tok[0], tissue=tok[1], abnormality=tok[2], severity=severity,
                         x=xyz[0], y=xyz[1], radius=xyz[2]))
    if not rows:
        raise DataError(f"{path} lists no images (lines like 'mdb001 G CIRC B 535 425 197'). Is this the MIAS "
                        f"Info.txt? {HINT}")
    return pd.DataFrame(rows)


def _join(values) -> str:
    return ";".join(dict.fromkeys(v for v in values if v))


def image_table(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per image: class_name (normal/abnormal), patient, side, tissue, the classes and
    severities of its abnormalities (';'-joined when several), and the first one's x, y, radius."""
    rows = []
    for ref, g in lines.groupby("ref", sort=True):
        n = int(ref[3:])
        abnormal = (g["abnormality"] != "NORM").any()
        first = g.iloc[0]
        rows.append(dict(ref=ref, class_name="abnormal" if abnormal else "normal", patient=(n + 1) // 2,
                         side="R" if n % 2 else "L", tissue=first["tissue"], abnormality=_join(g["abnormality"]),
                         severity=_join(g["severity"]), n_lines=len(g), x=first["x"], y=first["y"],
                         radius=first["radius"]))
    return pd.DataFrame(rows)


def info_file(folder: Path) -> Path | None:
    return next((p for p in sorted(folder.iterdir()) if p.is_file() and p.name.lower() == "info.txt"), None)


def find_release(data_dir: str | Path, depth: int = 3) -> Path:
    """The shallowest folder under `data_dir` holding Info.txt (archives may wrap it)."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        what = "does not exist" if not data_dir.exists() else "is a file, not a folder"
        raise DataError(f"mini-MIAS folder {data_dir} {what}. {HINT}")
    level = [data_dir]
    for _ in range(depth + 1):
        for cand in level:
            if info_file(cand):
                return cand
        level = [d for p in level for d in sorted(p.iterdir()) if d.is_dir() and not d.name.startswith((".", "__"))]
    raise DataError(f"No Info.txt found in {data_dir}: point the data folder at the mini-MIAS release (Info.txt "
                    f"beside images/mdb001.png ...). {HINT}")


def image_of(root: Path, ref: str, exts=(".png",)) -> Path | None:
    for folder in (root / "images", root):
        for ext in exts:
            for name in (ref + ext, ref.upper() + ext.upper()):
                if (folder / name).is_file():
                    return folder / name
    return None


def read_minimias(data_dir: str | Path, check: bool = True, skip_bad: bool = False,
                  progress: bool = True) -> pd.DataFrame:
    """Record table of the images listed in Info.txt (`<root>/images/mdbNNN.png`)."""
    root = find_release(data_dir)
    table = image_table(parse_info(info_file(root)))
    rows, skipped, missing = [], [], []
    for r in tqdm(table.to_dict("records"), desc="checking minimias", unit="img", disable=not (progress and check),
                  leave=False):
        p = image_of(root, r["ref"])
        if p is None:
            missing.append(r["ref"])
            continue
        size = checked_size(p, check, skip_bad, skipped)
        if size is None:
            continue
        w, h = size
        rows.append(dict(path=str(p), **{k: v for k, v in r.items() if k != "ref"}, group=r["patient"], width=w,
                         height=h))
    if missing and not skip_bad:
        pgm = image_of(root, missing[0], (".pgm",))
        advice = (f"{root} holds the release's PGM files: convert them with `python data_download.py minimias "
                  f"--from {root}`." if pgm else f"Re-download the release, or pass --skip-bad. {HINT}")
        raise DataError(f"{len(missing)} of {len(table)} images listed in Info.txt are missing from {root} (e.g. "
                        f"images/{missing[0]}.png). {advice}")
    skipped += [str(root / "images" / f"{m}.png") for m in missing]
    return make_records(rows, "minimias", CLASSES, skipped=skipped, root=root)


def read_dataset(data_dir: str | Path, dataset, *, check: bool = True, skip_bad: bool = False,
                 progress: bool = True) -> pd.DataFrame:
    """The registry's reader for `minimias`."""
    return read_minimias(data_dir, check=check, skip_bad=skip_bad, progress=progress)


def count_report(df: pd.DataFrame, root: str | None = None) -> str:
    """Images per class and patients against the release, abnormality classes, severities."""
    counts = df["class_name"].value_counts().to_dict()
    lines = [f"mini-MIAS images in {root}:" if root else "mini-MIAS images:",
             f"  {'class':<10}{'found':>7}{'expected':>10}"]
    for c in CLASSES:
        lines.append(f"  {c:<10}{counts.get(c, 0):>7}{EXPECTED[c]:>10}")
    n_pat = df["patient"].nunique()
    lines.append(f"  {'patients':<10}{n_pat:>7}{N_PATIENTS:>10}")
    ab = df[df["class_name"] == "abnormal"]
    kinds = ab["abnormality"].str.split(";").explode().value_counts()
    lines.append("  abnormal images by class: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    lines.append("  by severity: " + ", ".join(f"{k or '-'} {v}" for k, v in ab["severity"].value_counts().items()))
    lines.append("  background tissue: " + ", ".join(f"{k} {v}" for k, v in df["tissue"].value_counts().items()))
    if counts == EXPECTED and n_pat == N_PATIENTS:
        lines.append("Counts match the MIAS release.")
    else:
        lines.append(f"WARNING: counts differ from the release ({EXPECTED['normal']} normal / {EXPECTED['abnormal']} "
                     f"abnormal, {N_PATIENTS} patients): this copy is incomplete or edited.")
    return "\n".join(lines)


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
                    raise DataError(f"{e if isinstance(e, DataError) else f'Cannot read {src}: {e}.'} Nothing "
                                    "was kept: fetch the release again, or pass --skip-bad to leave such "
                                    "images out.") from None
                skipped.append(ref)
        shutil.copyfile(info, tmp / "Info.txt")
        for doc in (p for p in root.iterdir() if p.is_file() and p.name.lower() in ("readme", "licence.txt")):
            (tmp / "docs").mkdir(exist_ok=True)
            shutil.copyfile(doc, tmp / "docs" / doc.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return publish_folder(tmp, target, {"from": str(root), "images": len(refs) - len(skipped),
                                        "skipped": skipped, "format": "PNG, full resolution (1024x1024 in the release)"})


def fetch_minimias(dest: str | Path, url: str = MIAS_URL, from_path: str | Path | None = None,
                   in_place: bool = False, keep_archive: bool = True, check: bool = True,
                   progress: bool = True, skip_bad: bool = False) -> dict:
    """Put mini-MIAS under `<dest>/all-mias/` (or accept `from_path` where it is with
    `in_place`) and count it. Returns `data_dir`, `counts`, `patients` and a printable `report`."""
    dest = Path(dest).expanduser()

    def make(src: Path, target: Path) -> None:
        raw = dest / f".{FOLDER}-raw"
        shutil.rmtree(raw, ignore_errors=True)  # a leftover from an interrupted conversion
        try:
            root = find_release(src) if src.is_dir() else safe_extract(src, raw, select=find_release,
                                                                        progress=progress)
            convert_release(root, target, progress=progress, skip_bad=skip_bad)
        finally:
            shutil.rmtree(raw, ignore_errors=True)

    data_dir = fetch_release(dest / FOLDER, make, from_path=from_path, in_place=in_place, find=find_release,
                             give="Give all-mias.tar.gz or the folder holding Info.txt.", url=url,
                             archive_name=Path(urlparse(url).path).name or "all-mias.tar.gz",
                             keep_archive=keep_archive, progress=progress)
    df = read_minimias(data_dir, check=check and in_place, skip_bad=skip_bad, progress=progress)
    counts = {c: int((df["class_name"] == c).sum()) for c in CLASSES}
    return dict(data_dir=Path(data_dir), counts=counts, patients=int(df["patient"].nunique()),
                matches=counts == EXPECTED and df["patient"].nunique() == N_PATIENTS,
                report=count_report(df, df.attrs.get("root")))


DOWNLOAD = Download(
    command="minimias",
    help="the MIAS mammograms (normal vs abnormal): all-mias.tar.gz or your copy",
    summary=("the MIAS mammograms (Suckling et al. 1994; 322 films of 161 women, normal\n"
             "vs abnormal, the DDPM study's task): downloads all-mias.tar.gz (or --from a\n"
             "copy), converts the films to PNG under <dest>/all-mias/ with Info.txt."),
    examples=("python data_download.py minimias --dest data/minimias",
              "python data_download.py minimias --from all-mias.tar.gz --dest data/minimias",
              "python data_download.py minimias --from ~/data/mini-mias --in-place             # a converted copy as is"),
    description=("Get mini-MIAS into <dest>/all-mias/: images/mdb001.png ... (the 1024x1024 PGM films converted\n"
                 "to PNG at full resolution) and Info.txt, and report 207 normal / 115 abnormal images of\n"
                 "161 women. The tar archive is checked before extraction (no absolute paths, no '..',\n"
                 "no links or devices, size and compression limits). A folder already holding Info.txt and\n"
                 "images/mdbNNN.png (any size) can be used as is with --from FOLDER --in-place.\n"
                 "Licence: research use; cite Suckling et al. 1994 when you publish."),
    add_arguments=lambda p: release_arguments(
        p, "use all-mias.tar.gz (or a zip) or a folder you already have instead of downloading",
        "with --from FOLDER holding Info.txt and images/*.png: check it and use it where it is", MIAS_URL),
    run=lambda args: fetch_minimias(args.dest, **release_options(args)),
)
