"""A researcher's own images (`--dataset folder`): any folder of class sub-folders.

    <data_dir>/<class>/<image>     one sub-folder per class, at least two, each holding images

Grey or colour, any size and format the course reads (.png .jpg .jpeg .bmp .tif .tiff);
files named like masks (`*_mask.png`) are left out, as in BUSI. The class names are the
sub-folder names, sorted (label i is the i-th). The images decide the channels: RGB when a
sample of them (up to SAMPLE per class) is in colour, grey otherwise (a grey scan saved as
RGB stays grey). An optional `dataset.json` beside the class folders states either instead:

    {"classes": ["normal", "benign", "malignant", "cyst"], "channels": 3}

"classes" is the label order (sub-folders it does not name are left out); "channels" is 1
(grey) or 3 (RGB). The folder is only read, never written. Channels are a property of the
folder, not of a subset of its images: every part of a split is read the same way.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from helpers.data.folders import scan_class_folders
from helpers.data.images import HIGH_DEPTH, IMAGE_EXTENSIONS, is_image_file, is_mask, to_rgb8
from helpers.errors import DataError

STATEMENT = "dataset.json"
SAMPLE = 4  # images per class looked at to tell colour from grey
HINT = ("Point --data-dir (COURSE_DATA_DIR in a notebook) at a folder holding one sub-folder of images per "
        "class, e.g. DIR/benign/*.png and DIR/malignant/*.png.")
_GREY_MODES = ("1", "L", "LA", *HIGH_DEPTH)
# A pixel is coloured when its channels differ by more than this; an image is colour when more
# than COLOUR_SHARE of its pixels are (JPEG noise on a grey scan, or a small coloured mark, is not).
COLOUR_SPREAD, COLOUR_SHARE = 24, 0.01


def _sub_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p) and not is_mask(p))


def read_statement(root: Path) -> dict:
    """What `dataset.json` states ({} without one), after checking it."""
    path = root / STATEMENT
    if not path.is_file():
        return {}
    example = '{"classes": ["benign", "malignant"], "channels": 1}'
    try:
        stated = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is not readable JSON ({e}). Fix it (e.g. {example}) or delete it.") from None
    if not isinstance(stated, dict) or set(stated) - {"classes", "channels"}:
        raise DataError(f"{path} may state only \"classes\" and \"channels\" (e.g. {example}); fix it or delete it.")
    classes = stated.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)
                                or len(set(classes)) != len(classes)):
        raise DataError(f"{path}: \"classes\" must be a list of distinct class-folder names in label order "
                        f"(e.g. {example}), not {classes!r}.")
    if "channels" in stated and stated["channels"] not in (1, 3):
        raise DataError(f"{path}: \"channels\" must be 1 (grey) or 3 (RGB), not {stated['channels']!r}.")
    return stated


def folder_classes(data_dir: str | Path) -> tuple[str, ...]:
    """The class names, in label order, after checking that each class folder holds images."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"Data folder {root} {'is a file, not a folder' if root.exists() else 'does not exist'}. {HINT}")
    found = _sub_folders(root)
    stated = read_statement(root).get("classes")
    missing = [c for c in stated or () if c not in found]
    if missing:
        raise DataError(f"{root / STATEMENT} names class folder(s) {', '.join(missing)} that {root} does not hold "
                        f"(it holds: {', '.join(found) or 'no folders'}). Fix \"classes\" there, or add the folders.")
    classes = tuple(stated or found)
    if len(classes) < 2:
        held = f" ({', '.join(classes)})" if classes else ""
        raise DataError(f"{root} holds {len(classes)} class folder(s){held}; --dataset folder needs at least two, "
                        f"one per class. {HINT}")
    for c in classes:
        if not any(p.is_file() and is_image_file(p) and not is_mask(p) for p in (root / c).iterdir()):
            raise DataError(f"Class folder {root / c} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}; "
                            f"masks do not count). Put that class's images in it, or remove the folder (or leave "
                            f"it out of \"classes\" in {STATEMENT}).")
    return classes


def is_colour(path: Path, side: int = 128) -> bool:
    """True when the image holds colour, not grey stored in three channels."""
    with Image.open(path) as im:
        if im.mode in _GREY_MODES:
            return False
        im.draft("RGB", (side, side))  # JPEG: decode at a reduced size
        rgb = to_rgb8(im, path)
    rgb.thumbnail((side, side))
    a = np.asarray(rgb, dtype=np.int16)
    return float(((a.max(axis=-1) - a.min(axis=-1)) > COLOUR_SPREAD).mean()) > COLOUR_SHARE


@functools.lru_cache(maxsize=64)
def _detected(root: str, classes: tuple[str, ...], stamp: tuple) -> int:
    for c in classes:
        files = _images(Path(root) / c)
        k = min(SAMPLE, len(files))
        for p in (files[i * len(files) // k] for i in range(k)):
            try:
                if is_colour(p):
                    return 3
            except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
                continue  # an unreadable file is the reader's to report, by name
    return 1


def folder_channels(data_dir: str | Path, classes: tuple[str, ...]) -> int:
    """1 or 3: stated in dataset.json, else detected from a sample of the images (remembered
    until a class folder changes)."""
    root = Path(data_dir).expanduser()
    stated = read_statement(root).get("channels")
    if stated is not None:
        return int(stated)
    stamp = tuple((root / c).stat().st_mtime_ns for c in classes)
    return _detected(str(root.resolve()), tuple(classes), stamp)


def describe(data_dir: str | Path) -> tuple[tuple[str, ...], int]:
    """(class names in label order, channels) of the folder."""
    classes = folder_classes(data_dir)
    return classes, folder_channels(data_dir, classes)


def read_folder(data_dir: str | Path, dataset, *, check: bool = True, skip_bad: bool = False,
                progress: bool = True) -> pd.DataFrame:
    """The record table of the folder (the registry's reader for `folder`)."""
    return scan_class_folders(data_dir, list(folder_classes(data_dir)), dataset.name, check=check, skip_bad=skip_bad,
                              hint=dataset.hint, progress=progress)
