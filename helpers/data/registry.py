"""One registry of data sources, all yielding the same record table.

- `phantom`: procedural ultrasound-like images made in code (offline default);
- `busi`: the BUSI folder, official layout (masks beside images) or a resized copy;
- `breastmnist`: MedMNIST's BreastMNIST, unpacked to class folders by data_download.py;
- `minimias`: the MIAS mammograms (normal vs abnormal), Info.txt beside images/mdbNNN.png;
- `breakhis`, `breakhis8`: BreakHis histopathology in its official layout, benign vs
  malignant or the eight subtypes.
Mammograms are read through `helpers.data.mammo` (breast crop, left alignment).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.data.folders import scan_class_folders
from helpers.data.records import CLASS_NAMES, DataError

HINTS = {
    "phantom": "Generate it with `python data_download.py phantom --dest DIR`.",
    "busi": "Download it with `python data_download.py busi --dest DIR` (or `--from` an archive you have).",
    "breastmnist": "Download it with `python data_download.py breastmnist --dest DIR`.",
    "minimias": "Download it with `python data_download.py minimias --dest DIR` (or `--from` all-mias.tar.gz).",
    "breakhis": "Unpack it with `python data_download.py breakhis --from BreaKHis_v1.tar.gz --dest DIR`.",
    "breakhis8": "Unpack it with `python data_download.py breakhis --from BreaKHis_v1.tar.gz --dest DIR`.",
}


def load_records(dataset: str, data_dir: str | Path, check: bool = True, skip_bad: bool = False,
                 progress: bool = True) -> pd.DataFrame:
    """The record table for `dataset` stored under `data_dir`."""
    if dataset not in CLASS_NAMES:
        raise DataError(f"Unknown dataset {dataset!r}; choose one of {', '.join(CLASS_NAMES)}.")
    if dataset == "minimias":
        from helpers.data.minimias import read_minimias

        return read_minimias(data_dir, check=check, skip_bad=skip_bad, progress=progress)
    if dataset in ("breakhis", "breakhis8"):
        from helpers.data.breakhis import read_breakhis

        return read_breakhis(data_dir, task="binary" if dataset == "breakhis" else "subtype", check=check,
                             skip_bad=skip_bad, progress=progress)
    return scan_class_folders(data_dir, CLASS_NAMES[dataset], dataset, check=check, skip_bad=skip_bad,
                              hint=HINTS[dataset], progress=progress)


# Sources whose images are colour: the course reads them as RGB (N, H, W, 3); every other
# source is grayscale (N, H, W), as before.
RGB_SOURCES = ("breakhis", "breakhis8")


def channels(source: str) -> int:
    """3 for a colour source (BreakHis: H&E stains), 1 for everything else."""
    return 3 if str(source) in RGB_SOURCES else 1


def image_reader(source: str, channels: int = 1):
    """`read(path, size, resample) -> uint8 (size, size)` (or (size, size, 3) with
    `channels=3`) for a source's images: mammograms are cropped to the breast and aligned
    first, everything else is read as is. Thumbnails for near-duplicates stay grey."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), not {channels!r}")
    if source == "minimias":
        from helpers.data.mammo import load_mammogram

        return load_mammogram if channels == 1 else _three(load_mammogram)
    from helpers.data.images import load_gray, load_rgb

    return load_gray if channels == 1 else load_rgb


def _three(read):
    """A grey reader whose output is repeated into three channels (a grey source read as RGB)."""
    import numpy as np

    def read3(path, size=None, resample="lanczos"):
        return np.repeat(read(path, size, resample)[..., None], 3, axis=-1)

    read3.cache_tag = getattr(read, "cache_tag", "")
    return read3


def ensure_dataset(cfg, progress: bool = True) -> Path:
    """Make sure `cfg.data_dir` holds the dataset. Phantoms are generated on the spot, but only
    into a missing or empty folder or one marked as the course's phantom folder (any other
    folder is refused, never written to); real datasets must be downloaded by the user."""
    data_dir = Path(cfg.data_dir)
    if cfg.dataset == "phantom":
        from helpers.data.phantom_folder import ensure_phantom

        ensure_phantom(data_dir, cfg.phantom_counts, cfg.phantom_size, seed=0, progress=progress)
        return data_dir
    if not data_dir.exists():
        raise DataError(f"Data folder {data_dir} for dataset {cfg.dataset!r} does not exist. "
                        f"{HINTS[cfg.dataset]} Then set COURSE_DATA_DIR (or DATA_DIR in the "
                        "parameters cell) to that folder.")
    return data_dir


def data_signature(data_dir: str | Path) -> str:
    """A short hash of the image files under `data_dir` (names, sizes, modification times):
    a prepared record table is rebuilt when the folder's contents change."""
    import hashlib

    from helpers.data.images import is_image_file

    h = hashlib.sha1()
    root = Path(data_dir)
    for p in sorted(root.rglob("*")):
        if p.is_file() and is_image_file(p):
            st = p.stat()
            h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
