"""Reading single images safely: grayscale or RGB, clear errors, masks recognised by name."""

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
    default, as the BUSI study). BUSI stores grayscale scans as RGB; "L" keeps them intact.
    16-bit, 12-bit, 32-bit and float images are scaled to 0-255 (see `to_gray8`), not clipped."""
    return _read(path, size, resample, to_gray8)


def load_rgb(path: str | Path, size: int | None = None, resample: str = "lanczos") -> np.ndarray:
    """An image as uint8 RGB (H, W, 3), optionally resized: the colour sources (histopathology
    stains carry the diagnosis in their hue). A grey image comes back with three equal channels."""
    return _read(path, size, resample, to_rgb8)


def _read(path, size, resample, convert) -> np.ndarray:
    """Decode `path` with `convert(im, path)` (clear errors for missing and corrupt files), resize."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            g = convert(im, path)
    except FileNotFoundError:
        raise DataError(f"Image file {path} does not exist. Rebuild the record table "
                        "(`python -m helpers prepare ...`) if the data folder moved.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise CorruptImageError(
            f"Cannot read image {path}: {e}. The file is corrupt or not an image. Re-download the "
            "dataset (`python data_download.py ...`), delete the file, or skip unreadable files "
            "(`python -m helpers prepare --skip-bad`, skip_bad=True in Python).") from None
    if size is not None and g.size != (size, size):
        g = g.resize((size, size), RESAMPLING[resample])
    return np.array(g, dtype=np.uint8)  # a writable copy (np.asarray of a PIL image is read-only)


HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
BIT_DEPTHS = (8, 10, 12, 14, 16)


def to_gray8(im: Image.Image, path: str | Path = "image") -> Image.Image:
    """Any PIL image as an 8-bit grayscale ("L") image, without losing its contrast.

    - 16-bit ("I;16*") and 32-bit integer ("I") scans: divided by the full scale of the
      smallest bit depth that holds their maximum (8, 10, 12, 14 or 16 bits), so a 12-bit
      scan stored in 16 bits keeps its brightness; values beyond 16 bits or below 0 are
      stretched from their minimum to their maximum. (Converting with PIL's "L" clips at 255:
      a 16-bit scan would come out solid white.)
    - float ("F"): [0, 1] kept as is, any other range stretched; NaN/inf are refused.
    - colour, palette and alpha ("RGB", "RGBA", "LA", "P", "CMYK", "1"): luminance, with
      transparent parts laid over black.
    """
    if im.mode in HIGH_DEPTH:
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataError(f"Image {path} ({im.mode}) holds NaN or infinite pixels; it cannot be shown as a "
                            "scan. Re-export it, or remove it from the data folder.")
        lo, hi = float(a.min()), float(a.max())
        if im.mode == "F" and lo >= 0 and hi <= 1:
            scaled = a * 255
        elif im.mode != "F" and lo >= 0 and hi < 2 ** 16:
            bits = next(b for b in BIT_DEPTHS if hi < 2 ** b)
            scaled = a * (255 / (2 ** bits - 1))
        else:
            scaled = (a - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(a)
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    return _over_black(im).convert("L")


def _over_black(im: Image.Image) -> Image.Image:
    """An image with transparent parts laid over black (others unchanged)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return im


def to_rgb8(im: Image.Image, path: str | Path = "image") -> Image.Image:
    """Any PIL image as 8-bit RGB: high bit depths through `to_gray8` (their contrast kept),
    transparent parts laid over black, everything else by PIL's conversion."""
    return (to_gray8(im, path) if im.mode in HIGH_DEPTH else _over_black(im)).convert("RGB")


def check_image(path: str | Path) -> tuple[int, int]:
    """Open and fully decode an image; returns (width, height) or raises CorruptImageError."""
    a = load_gray(path)
    return a.shape[1], a.shape[0]


def checked_size(path: str | Path, check: bool, skip_bad: bool, skipped: list) -> tuple | None:
    """(width, height) of an image the readers accept: decoded when `check` ((None, None)
    without), None when it is unreadable and `skip_bad` (its path added to `skipped`),
    CorruptImageError otherwise. The one place every source's reader checks its files."""
    if not check:
        return None, None
    try:
        return check_image(path)
    except CorruptImageError:
        if not skip_bad:
            raise
        skipped.append(str(path))
        return None

