"""Reading a dataset stored as one folder per class: BUSI's layout, and a researcher's own images.

BUSI's two layouts are accepted, and masks are never taken for images:
- official: `Dataset_BUSI_with_GT/<class>/<class> (i).png` with `<class> (i)_mask.png`
  (sometimes `_mask_1.png`, `_mask_2.png`) beside each image, sizes varying;
- resized: `<root>/<class>/<class> (i).png`, all one size, no masks.
The class folders may sit in a wrapper folder (an archive's, whose name varies between copies).

`--dataset folder` reads any folder of class sub-folders, `<data_dir>/<class>/<image>`: at
least two, each holding images, grey or colour, any size and format the course reads (.png
.jpg .jpeg .bmp .tif .tiff); files named like masks are left out, as in BUSI. The class
names are the sub-folder names, sorted (label i is the i-th). The images decide the channels:
RGB when a sample of them (up to SAMPLE per class) is in colour, grey otherwise (a grey scan
saved as RGB stays grey). An optional `dataset.json` beside the class folders states either:

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
from tqdm.auto import tqdm

from helpers.data.images import (
    HIGH_DEPTH,
    IMAGE_EXTENSIONS,
    checked_size,
    is_image_file,
    is_mask,
    to_rgb8,
)
from helpers.data.records import DataError, make_records

STATEMENT = "dataset.json"
SAMPLE = 4  # images per class looked at to tell colour from grey
HINT = ("Point --data-dir (COURSE_DATA_DIR in a notebook) at a folder holding one sub-folder of images per "
        "class, e.g. DIR/benign/*.png and DIR/malignant/*.png.")
_GREY_MODES = ("1", "L", "LA", *HIGH_DEPTH)
# A pixel is coloured when its channels differ by more than this; an image is colour when more
# than COLOUR_SHARE of its pixels are (JPEG noise on a grey scan, or a small coloured mark, is not).
COLOUR_SPREAD, COLOUR_SHARE = 24, 0.01


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
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
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
        if not _images(root / c):
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



def find_class_root(data_dir: str | Path, classes, hint: str = "", depth: int = 1) -> Path:
    """The shallowest folder holding a class folder: `data_dir` itself or a wrapper folder
    inside it, down to `depth` levels."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        raise DataError(f"Data folder {data_dir} does not exist. {hint}".strip())
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} is a file, not a folder. If it is an archive, unpack it with "
                        f"`python data_download.py busi --from {data_dir}`.")
    level = [data_dir]
    for _ in range(depth + 1):
        for cand in level:
            if any((cand / c).is_dir() for c in classes):
                return cand
        level = [d for p in level for d in sorted(p.iterdir())
                 if d.is_dir() and not d.name.startswith((".", "__MACOSX"))]
    raise DataError(f"No class folders ({', '.join(classes)}) found in {data_dir}. "
                    f"Point the data folder at the directory that contains them. {hint}".strip())


def scan_class_folders(data_dir: str | Path, classes: list[str], source: str, check: bool = True,
                       skip_bad: bool = False, hint: str = "", progress: bool = True) -> pd.DataFrame:
    """Record table of every image under `<root>/<class>/`.

    `check` decodes every file so that a corrupt one is caught now, by name, not halfway
    through training; with `skip_bad` such files are left out and counted in
    `df.attrs["skipped"]`.
    """
    root = find_class_root(data_dir, classes, hint)
    rows, skipped = [], []
    for cls in classes:
        folder = root / cls
        if not folder.is_dir():
            raise DataError(f"Class folder {folder} is missing (expected one folder per class: "
                            f"{', '.join(classes)}). {hint}".strip())
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        masks = [p for p in files if is_mask(p)]
        images = [p for p in files if not is_mask(p)]
        if not images:
            if masks:
                raise DataError(f"Class folder {folder} holds {len(masks)} mask files (e.g. "
                                f"'{masks[0].name}') but no images. Masks are segmentation labels, "
                                "not scans: point the data folder at the images.")
            raise DataError(f"Class folder {folder} has no images. Every class needs images; "
                            f"re-download the dataset or remove the empty class. {hint}".strip())
        mask_stems = {}
        for m in masks:
            stem = m.stem[: m.stem.lower().rfind("_mask")]
            mask_stems[stem] = mask_stems.get(stem, 0) + 1
        it = tqdm(images, desc=f"checking {cls}", unit="img", disable=not (progress and check), leave=False)
        for p in it:
            size = checked_size(p, check, skip_bad, skipped)
            if size is None:
                continue
            w, h = size
            rows.append(dict(path=str(p), class_name=cls, width=w, height=h, n_masks=mask_stems.get(p.stem, 0)))
    return make_records(rows, source, classes, skipped=skipped, root=root)


def read_class_folders(data_dir: str | Path, dataset, *, check: bool = True, skip_bad: bool = False,
                       progress: bool = True) -> pd.DataFrame:
    """The registry's reader for a dataset stored as one folder per class (BUSI, the phantom,
    BreastMNIST, `folder`): its classes (a `folder`'s from the folder), its name as the source,
    its hint in every error."""
    classes = dataset.classes or folder_classes(data_dir)
    return scan_class_folders(data_dir, list(classes), dataset.name, check=check, skip_bad=skip_bad,
                              hint=dataset.hint, progress=progress)
