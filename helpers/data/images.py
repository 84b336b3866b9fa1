"""Reading single images safely: grayscale, clear errors, masks recognised by name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from helpers.data.records import DataError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# BUSI masks: "benign (1)_mask.png", and for lesions with several masks "_mask_1.png".
_MASK_RE = re.compile(r"_mask(_\d+)?$", re.IGNORECASE)


def is_mask(path: str | Path) -> bool:
    return bool(_MASK_RE.search(Path(path).stem))


def is_image_file(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


class CorruptImageError(DataError):
    pass


RESAMPLING = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR}


def load_gray(path: str | Path, size: int | None = None, resample: str = "lanczos") -> np.ndarray:
    """An image as uint8 grayscale (H, W), optionally resized to size x size (Lanczos by
    default, as the BUSI study). BUSI stores grayscale scans as RGB; "L" keeps them intact."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            g = im.convert("L")
    except FileNotFoundError:
        raise DataError(f"Image file {path} does not exist. Rebuild the record table "
                        "(`python -m helpers prepare ...`) if the data folder moved.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(
            f"Cannot read image {path}: {e}. The file is corrupt or not an image. Re-download the "
            "dataset (`python data_download.py ...`), delete the file, or pass skip_bad=True "
            "(`--skip-bad`) to skip unreadable files.") from None
    if size is not None and g.size != (size, size):
        g = g.resize((size, size), RESAMPLING[resample])
    return np.asarray(g, dtype=np.uint8)


def check_image(path: str | Path) -> tuple[int, int]:
    """Open and fully decode an image; returns (width, height) or raises CorruptImageError."""
    a = load_gray(path)
    return a.shape[1], a.shape[0]
