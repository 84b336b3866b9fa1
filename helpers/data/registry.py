"""Every dataset the course reads, one `Dataset` record each (`DATASETS`), all yielding the same
record table: the phantom (made in code), BUSI, BreastMNIST, mini-MIAS, BreakHis (`breakhis`,
`breakhis8`) and `folder` (your own class folders, `helpers.data.folders`).

The config (`Config.classes`, `channels`, `dup_threshold`, `--dataset` choices), the record
tables and `data_download.py` read a dataset's facts from its record; a fact its own module
needs (its classes, its hint) is defined there and named by the record. Adding a dataset
touches this file and its reader only: write `helpers/data/mydata.py` with CLASSES, HINT and
`read_dataset(data_dir, dataset, *, check, skip_bad, progress)` returning
`make_records(rows, dataset.name, CLASSES)` (class folders need no reader of their own:
`read_class_folders`), optionally a `DOWNLOAD = fetch.Download(...)`, then add
`Dataset("mydata", mydata.CLASSES, mydata.HINT, mydata.read_dataset, download=mydata.DOWNLOAD)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data import breakhis, breastmnist, busi_fetch, folders, minimias, phantom_folder
from helpers.data.fetch import Download
from helpers.data.folders import STATEMENT, read_class_folders
from helpers.data.images import is_image_file, load_gray, load_rgb
from helpers.data.mammo import load_mammogram
from helpers.errors import DataError, SettingError


@dataclass(frozen=True)
class Dataset:
    """Everything the course knows about one dataset; `--dataset <name>` picks it."""

    name: str
    classes: tuple[str, ...] | None  # in label order (label i is classes[i]); None: `describe` says
    hint: str  # how to get the data; ends every "not found" message
    reader: Callable  # reader(data_dir, dataset, *, check, skip_bad, progress) -> record table
    channels: int | None = 1  # 1 grey, 3 RGB (N, H, W, 3); None: `describe` says
    dup_threshold: float | None = None  # near-duplicate correlation; None: Config's default (0.97)
    load_image: Callable | None = None  # grey reader (path, size, resample) when decoding is not enough
    download: Download | None = None  # its data_download.py sub-command (one may serve two datasets)
    make: Callable | None = None  # make(cfg, progress): write the data into cfg.data_dir (made in code)
    # For data that says what it holds: describe(data_dir) -> (classes, channels). Such a
    # dataset has no default folder (--data-dir is required) and one runs folder per data folder.
    describe: Callable[[Path], tuple[tuple[str, ...], int]] | None = None

    def classes_and_channels(self, data_dir: str | Path | None) -> tuple[tuple[str, ...], int]:
        """(class names in label order, channels) of this dataset stored in `data_dir`."""
        if self.describe is not None:
            return self.describe(Path(data_dir))
        return tuple(self.classes), int(self.channels)


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("phantom", phantom_folder.CLASSES, phantom_folder.HINT, read_class_folders,
            download=phantom_folder.DOWNLOAD, make=phantom_folder.make_for_run),
    Dataset("busi", busi_fetch.CLASSES, busi_fetch.HINT, read_class_folders, download=busi_fetch.DOWNLOAD),
    Dataset("breastmnist", breastmnist.CLASSES, breastmnist.HINT, read_class_folders, download=breastmnist.DOWNLOAD),
    # Aligned mammograms share one outline, so their 32 px thumbnails correlate above 0.97 across
    # different women (143 pairs on mini-MIAS, 16 above 0.98, none a duplicate when looked at); a
    # split would see one giant group. The patient groups carry the protection against leakage.
    Dataset("minimias", minimias.CLASSES, minimias.HINT, minimias.read_dataset, dup_threshold=0.995,
            load_image=load_mammogram, download=minimias.DOWNLOAD),
    # Colour: the stain carries the diagnosis. Both tasks are unpacked by one sub-command.
    Dataset("breakhis", breakhis.TASK_CLASSES["binary"], breakhis.HINT, breakhis.read_dataset, channels=3,
            download=breakhis.DOWNLOAD),
    Dataset("breakhis8", breakhis.TASK_CLASSES["subtype"], breakhis.HINT, breakhis.read_dataset, channels=3,
            download=breakhis.DOWNLOAD),
    Dataset("folder", None, folders.HINT, read_class_folders, channels=None, describe=folders.describe),
)}


def dataset(name: str) -> Dataset:
    """The record of dataset `name`; a one-line error naming the choices otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise SettingError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.") from None


def class_names(name: str, data_dir: str | Path | None = None) -> tuple[str, ...]:
    """The class names of dataset `name` in label order (from `data_dir` for `folder`)."""
    ds = dataset(name)
    if ds.describe is not None and data_dir is None:
        raise SettingError(f"Dataset {name!r} takes its classes from its data folder: pass the run's "
                           "(cfg.classes), or the folder.")
    return ds.classes_and_channels(data_dir)[0]


def load_records(dataset_name: str, data_dir: str | Path, check: bool = True, skip_bad: bool = False,
                 progress: bool = True) -> pd.DataFrame:
    """The record table for `dataset_name` stored under `data_dir`."""
    try:
        ds = dataset(dataset_name)
    except SettingError as e:
        raise DataError(str(e)) from None
    return ds.reader(data_dir, ds, check=check, skip_bad=skip_bad, progress=progress)


def channels(source: str, image: str | Path | None = None) -> int:
    """3 for a colour source (BreakHis: H&E stains), 1 for the others and for tables that name
    no dataset (synthetic sets, tables made by hand). Where the images decide (`folder`), the
    folder holding `image` (one of the source's images) is asked."""
    ds = DATASETS.get(str(source))
    if ds is None:
        return 1
    if ds.channels is not None:
        return ds.channels
    if image is None:
        raise DataError(f"The channels of dataset {source!r} depend on its images: pass one of them, or use the "
                        "run's cfg.channels.")
    return ds.describe(Path(image).parent.parent)[1]  # <data folder>/<class>/<image>


def image_reader(source: str, channels: int = 1):
    """`read(path, size, resample) -> uint8 (size, size)` (or (size, size, 3) with
    `channels=3`) for a source's images: mammograms are cropped to the breast and aligned
    first, everything else is read as is. Thumbnails for near-duplicates stay grey."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), not {channels!r}")
    ds = DATASETS.get(str(source))
    grey = ds.load_image if ds is not None else None
    if grey is None:
        return load_gray if channels == 1 else load_rgb
    return grey if channels == 1 else _three(grey)


def _three(read):
    """A grey reader whose output is repeated into three channels (a grey source read as RGB)."""
    def read3(path, size=None, resample="lanczos"):
        return np.repeat(read(path, size, resample)[..., None], 3, axis=-1)

    read3.cache_tag = getattr(read, "cache_tag", "")
    return read3


def ensure_dataset(cfg, progress: bool = True) -> Path:
    """Make sure `cfg.data_dir` holds the dataset. Phantoms are generated on the spot, but only
    into a missing or empty folder or one marked as the course's phantom folder (any other
    folder is refused, never written to); real datasets must be downloaded by the user."""
    data_dir = Path(cfg.data_dir)
    ds = dataset(cfg.dataset)
    if ds.make is not None:
        ds.make(cfg, progress=progress)
        return data_dir
    if not data_dir.exists():
        raise DataError(f"Data folder {data_dir} for dataset {cfg.dataset!r} does not exist. "
                        f"{ds.hint} Then set COURSE_DATA_DIR (or DATA_DIR in the "
                        "parameters cell) to that folder.")
    return data_dir


def data_signature(data_dir: str | Path) -> str:
    """A short hash of the image files under `data_dir` (names, sizes, modification times) and
    of what a `dataset.json` there states: a prepared record table is rebuilt when either changes."""
    h = hashlib.sha1()
    root = Path(data_dir)
    for p in sorted(root.rglob("*")):
        if p.is_file() and is_image_file(p):
            st = p.stat()
            h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    statement = root / STATEMENT
    if statement.is_file():
        h.update(statement.read_bytes())
    return h.hexdigest()[:16]
