"""BreastMNIST (MedMNIST v3 / MedMNIST+): the npz release unpacked into class folders.

MedMNIST resized BUSI to 28/64/128/224 px and merged "normal" and "benign" into one
positive class, so the task is binary (label 1 "normal, benign" vs label 0 "malignant").
The course's class names are "benign" for label 1 and "malignant" for label 0. MedMNIST's
own train/val/test split (546/78/156) is written beside the images as `splits.csv`.
`DOWNLOAD` is its `data_download.py breastmnist` sub-command.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.data.download import download, verify_file
from helpers.data.extract import MARKER, temp_sibling
from helpers.data.fetch import Download
from helpers.data.folders import scan_class_folders
from helpers.data.records import DataError

# URLs and MD5s copied from MedMNIST's own source, medmnist/info.py, INFO["breastmnist"]
# (keys url/MD5, url_64/MD5_64, url_128/MD5_128, url_224/MD5_224), MedMNIST v3.0.2,
# github.com/MedMNIST/MedMNIST at commit 3bb56be69bca38e5f105b21e4d6482b91354d3a4.
ZENODO = "https://zenodo.org/records/10519652/files"
FILES = {
    28: (f"{ZENODO}/breastmnist.npz?download=1", "750601b1f35ba3300ea97c75c52ff8f6"),
    64: (f"{ZENODO}/breastmnist_64.npz?download=1", "742edef2a1fd1524b2efff4bd7ba9364"),
    128: (f"{ZENODO}/breastmnist_128.npz?download=1", "363e4b3f8d712e9b5de15470a2aaadf1"),
    224: (f"{ZENODO}/breastmnist_224.npz?download=1", "b56378a6eefa9fed602bb16d192d4c8b"),
}
SIZES = tuple(FILES)
# MedMNIST label -> course class name (info.py: {"0": "malignant", "1": "normal, benign"}).
LABEL_NAMES = {0: "malignant", 1: "benign"}
CLASSES = ("benign", "malignant")  # the course's label order
HINT = "Download it with `python data_download.py breastmnist --dest DIR`."
SPLITS = ("train", "val", "test")
EXPECTED_SPLITS = {"train": 546, "val": 78, "test": 156}
UNPACKING = ".unpacking"  # present while class folders are being moved into place


def npz_name(size: int) -> str:
    return "breastmnist.npz" if size == 28 else f"breastmnist_{size}.npz"


def read_npz(path: str | Path, size: int | None = None) -> dict:
    """{split: (images uint8 (N,H,W), labels int (N,))}, after checking the file's structure."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"Cannot read {path} as a MedMNIST npz ({e}). Delete it and download it "
                        "again.") from None
    out = {}
    for split in SPLITS:
        ki, kl = f"{split}_images", f"{split}_labels"
        missing = [k for k in (ki, kl) if k not in arrays]
        if missing:
            raise DataError(f"{path} lacks {', '.join(map(repr, missing))} (has {sorted(arrays)}); it is "
                            "not a MedMNIST npz. Delete it and download it again.")
        x, y = arrays[ki], arrays[kl].reshape(-1)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or x.dtype != np.uint8 or len(x) != len(y):
            raise DataError(f"{path}: '{ki}' has shape {x.shape} {x.dtype} for {len(y)} labels; expected "
                            "uint8 (N, H, W) grayscale images. Delete it and download it again.")
        if size is not None and x.shape[1:] != (size, size):
            raise DataError(f"{path} holds {x.shape[1]}x{x.shape[2]} images, not {size}x{size}. Pick "
                            "the matching --size or the matching file.")
        if not set(np.unique(y).tolist()) <= set(LABEL_NAMES):
            raise DataError(f"{path}: '{kl}' has labels {sorted(set(y.tolist()))}; BreastMNIST labels "
                            "are 0 and 1. This is not BreastMNIST.")
        out[split] = (x, y.astype(int))
    return out


def unpack_npz(npz: str | Path, dest: str | Path, size: int | None = None, progress: bool = True) -> dict:
    """Write each image as `<dest>/<class>/<split>_<index>.png` plus `<dest>/splits.csv`.

    The class folders are built in a temporary folder and moved into place at the end, then
    the completion marker is written; an interrupted run is cleaned up by the next one.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    npz, dest = Path(npz), Path(dest)
    data = read_npz(npz, size)
    dest.mkdir(parents=True, exist_ok=True)
    owned = [dest / c for c in LABEL_NAMES.values()] + [dest / "splits.csv"]
    if (dest / UNPACKING).exists():  # our own half-finished move: start it over
        for p in owned:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    elif any(p.exists() for p in owned):
        raise DataError(f"{dest} already holds BreastMNIST files that this tool did not finish (no "
                        f"{MARKER}). Delete them or choose another --dest.")
    tmp = temp_sibling(dest / ".unpack")
    rows = []
    try:
        for c in LABEL_NAMES.values():
            (tmp / c).mkdir()
        jobs = [(s, i) for s in SPLITS for i in range(len(data[s][1]))]
        for split, i in tqdm(jobs, desc=f"unpacking {npz.name}", unit="img", disable=not progress):
            x, y = data[split]
            cls = LABEL_NAMES[int(y[i])]
            rel = f"{cls}/{split}_{i:04d}.png"
            Image.fromarray(x[i], mode="L").save(tmp / rel)
            rows.append(dict(path=rel, class_name=cls, medmnist_label=int(y[i]), split=split, index=i))
        pd.DataFrame(rows).to_csv(tmp / "splits.csv", index=False)
        (dest / UNPACKING).write_text("")
        for p in owned:
            (tmp / p.name).replace(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    counts = {s: int(len(data[s][1])) for s in SPLITS}
    info = dict(source=npz.name, size=int(data["train"][0].shape[1]), splits=counts,
                classes={c: sum(r["class_name"] == c for r in rows) for c in LABEL_NAMES.values()})
    (dest / MARKER).write_text(json.dumps(info, indent=1))
    (dest / UNPACKING).unlink()
    return info


def fetch_breastmnist(dest: str | Path, size: int = 28, url: str | None = None, md5: str | None = None,
                      from_path: str | Path | None = None, progress: bool = True) -> dict:
    """Download (or take from `from_path`) the BreastMNIST npz of `size` px, check its MD5,
    unpack it under `dest`. Returns the unpacking summary plus `data_dir` and `report`."""
    if size not in FILES:
        raise DataError(f"BreastMNIST comes in sizes {', '.join(map(str, SIZES))}, not {size}.")
    dest = Path(dest).expanduser()
    default_url, default_md5 = FILES[size]
    md5 = default_md5 if md5 is None else (md5 or None)  # "" turns the check off
    marker = dest / MARKER
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("size") != size:
            raise DataError(f"{dest} already holds BreastMNIST at {info.get('size')} px; choose another "
                            f"--dest for {size} px (e.g. {dest.parent / f'breastmnist-{size}'}).")
        print(f"{dest} is already complete ({size} px); skipping download and unpacking.")
    else:
        if from_path is not None:
            npz = Path(from_path).expanduser()
            if not npz.is_file():
                raise DataError(f"--from {npz}: no such file. Give a BreastMNIST .npz file.")
            verify_file(npz, md5=md5, what=str(npz), advice=(
                f"It is not MedMNIST's breastmnist file for {size} px: check --size, fetch the file "
                "again, or pass --md5 '' to use it unchecked."))
        else:
            npz = download(url or default_url, dest / npz_name(size), md5=md5, progress=progress)
        info = unpack_npz(npz, dest, size=size, progress=progress)
    # Read it back the way the course will, so a problem shows now and not in a notebook.
    df = scan_class_folders(dest, list(CLASSES), "breastmnist", hint=HINT, progress=progress)
    found = df["class_name"].value_counts().to_dict()
    if found != info["classes"]:
        raise DataError(f"{dest} holds {found} images but {MARKER} records {info['classes']}; files "
                        f"were removed or added. Delete {dest} and run the command again.")
    info["data_dir"] = dest
    info["report"] = split_report(info)
    return info


def split_report(info: dict) -> str:
    lines = [f"BreastMNIST {info['size']} px: " + ", ".join(f"{c} {n}" for c, n in info["classes"].items())]
    got = info["splits"]
    lines.append("  MedMNIST split: " + ", ".join(f"{s} {got[s]}" for s in SPLITS) + " (splits.csv)")
    if got != EXPECTED_SPLITS:
        lines.append("WARNING: the split sizes differ from the release (546 / 78 / 156); this is not "
                     "the official file.")
    return "\n".join(lines)


def _arguments(p) -> None:
    p.add_argument("--size", type=int, choices=SIZES, default=28, help="image side in pixels (default: 28)")
    p.add_argument("--url", default=None, help="download from here instead of Zenodo")
    p.add_argument("--md5", default=None,
                   help="expected MD5 (default: MedMNIST's published one for --size; '' skips the check)")
    p.add_argument("--from", dest="from_path", default=None, metavar="FILE.npz",
                   help="use an npz you already have instead of downloading (its MD5 is checked)")


def _run(args) -> dict:
    dest = args.dest or args.default_dest  # data/breastmnist, or data/breastmnist-<size> beside it
    if not args.dest and args.size != 28:
        dest = dest.with_name(f"breastmnist-{args.size}")
    return fetch_breastmnist(dest, size=args.size, url=args.url, md5=args.md5, from_path=args.from_path,
                             progress=not args.quiet)


DOWNLOAD = Download(
    command="breastmnist",
    help="MedMNIST's BreastMNIST npz (28/64/128/224 px), MD5-checked",
    summary=("MedMNIST's BreastMNIST (28/64/128/224 px, binary: benign+normal vs\n"
             "malignant), checked against MedMNIST's published MD5 and unpacked to PNGs\n"
             "with MedMNIST's own train/val/test split in <dest>/splits.csv."),
    examples=("python data_download.py breastmnist --size 128 --dest data/breastmnist-128",),
    description=("Download BreastMNIST (MedMNIST v3, Zenodo record 10519652) at one size, check its MD5,\n"
                 "and unpack it to <dest>/{benign,malignant}/<split>_<i>.png plus <dest>/splits.csv\n"
                 "(MedMNIST's train/val/test split). 'benign' is MedMNIST's label 1 ('normal, benign'),\n"
                 "'malignant' its label 0."),
    add_arguments=_arguments,
    run=_run,
    dest_help="folder to write into (default: data/breastmnist for 28 px, data/breastmnist-<size> otherwise)",
)
