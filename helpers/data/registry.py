"""One registry of data sources, all yielding the same record table.

- `phantom`: procedural ultrasound-like images made in code (offline default);
- `busi`: the BUSI folder, official layout (masks beside images) or a resized copy;
- `breastmnist`: MedMNIST's BreastMNIST, unpacked to class folders by data_download.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from helpers.data.folders import scan_class_folders
from helpers.data.records import CLASS_NAMES, DataError

HINTS = {
    "phantom": "Generate it with `python data_download.py phantom --dest DIR`.",
    "busi": "Download it with `python data_download.py busi --dest DIR` (or `--from` an archive you have).",
    "breastmnist": "Download it with `python data_download.py breastmnist --dest DIR`.",
}


def load_records(dataset: str, data_dir: str | Path, check: bool = True, skip_bad: bool = False,
                 progress: bool = True) -> pd.DataFrame:
    """The record table for `dataset` stored under `data_dir`."""
    if dataset not in CLASS_NAMES:
        raise DataError(f"Unknown dataset {dataset!r}; choose one of {', '.join(CLASS_NAMES)}.")
    return scan_class_folders(data_dir, CLASS_NAMES[dataset], dataset, check=check, skip_bad=skip_bad,
                              hint=HINTS[dataset], progress=progress)


def ensure_dataset(cfg, progress: bool = True) -> Path:
    """Make sure `cfg.data_dir` holds the dataset. Phantoms are generated on the spot (a
    marker file records what was made); real datasets must be downloaded by the user."""
    data_dir = Path(cfg.data_dir)
    if cfg.dataset == "phantom":
        from helpers.data.phantom import write_phantom_dataset

        marker = data_dir / ".phantom.json"
        want = dict(counts=cfg.phantom_counts, size=cfg.phantom_size, seed=0)
        old = json.loads(marker.read_text()) if marker.exists() else None
        if old != want:
            if old is not None and (old["size"], old["seed"]) != (want["size"], want["seed"]):
                for cls in CLASS_NAMES["phantom"]:  # other pixels: start the folder over
                    shutil.rmtree(data_dir / cls, ignore_errors=True)
            write_phantom_dataset(data_dir, cfg.phantom_counts, seed=0, size=cfg.phantom_size, progress=progress)
            marker.write_text(json.dumps(want))
        return data_dir
    if not data_dir.exists():
        raise DataError(f"Data folder {data_dir} for dataset {cfg.dataset!r} does not exist. "
                        f"{HINTS[cfg.dataset]} Then set COURSE_DATA_DIR (or DATA_DIR in the "
                        "parameters cell) to that folder.")
    return data_dir
