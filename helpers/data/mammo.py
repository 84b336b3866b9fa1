"""Mammogram preprocessing: keep the breast, drop the background and the film's label, and
turn every breast the same way.

- `breast_mask`: threshold (a tenth of the bright tissue level), an opening that cuts thin
  bridges, the largest connected component, holes filled. A film label, a marker or a tag
  is a separate bright blob, so it is not part of the largest component and is dropped:
  the label's text cannot become a shortcut for the classifier.
- `align_left`: the chest wall on the left edge (the breast's widest side) and the nipple
  towards the right, as the DDPM study aligned its breasts; a right breast is mirrored.
- `crop_breast`: zero outside the mask, crop to it, align, pad to a square (no stretching).

`load_mammogram` is the reader `helpers.data.preprocess.load_images` uses for mammography
sources (see `helpers.data.registry.image_reader`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from helpers.data.images import RESAMPLING, load_gray

WORK_SIZE = 256  # the mask is found at this resolution (fast, and the same at any input size)
TISSUE_FRACTION = 0.1  # threshold: this fraction of the bright-tissue level (99th percentile)
MIN_LEVEL = 8  # ... but never below this grey level (film noise, painted-over labels)
OPEN_RADIUS = 3  # px at WORK_SIZE: cuts bridges thinner than ~2.5% of the image
DILATE = 2  # px at WORK_SIZE: keeps the faint skin line just outside the threshold
CACHE_TAG = "mammo-v1"  # change when the preprocessing changes: cached arrays are rebuilt


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def breast_mask(img: np.ndarray) -> np.ndarray:
    """Boolean mask (same shape as `img`, uint8 grey) of the breast: the largest bright region."""
    h, w = img.shape
    scale = WORK_SIZE / max(h, w)
    small = img if scale >= 1 else np.asarray(
        Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))), RESAMPLING["bilinear"]))
    level = max(MIN_LEVEL, TISSUE_FRACTION * float(np.percentile(small, 99)))
    fg = ndimage.binary_opening(small > level, _disk(OPEN_RADIUS))
    labels, n = ndimage.label(fg)
    if n == 0:  # nothing bright: keep the whole image rather than an empty one
        return np.ones_like(img, dtype=bool)
    sizes = ndimage.sum_labels(fg, labels, index=np.arange(1, n + 1))
    mask = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    mask = ndimage.binary_dilation(mask, _disk(DILATE))
    if mask.shape != img.shape:
        up = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), RESAMPLING["bilinear"])
        mask = np.asarray(up) >= 128
    return mask


def faces_right(mask: np.ndarray) -> bool:
    """True when the chest wall is on the right: the breast is widest at the chest wall, so
    the half of its bounding box nearer the wall holds more of it."""
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return False
    box = mask[:, cols[0]:cols[-1] + 1]
    half = box.shape[1] // 2
    return box[:, box.shape[1] - half:].sum() > box[:, :half].sum()


def align_left(img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(img, mask) mirrored when needed so that the chest wall is on the left."""
    return (img[:, ::-1], mask[:, ::-1]) if faces_right(mask) else (img, mask)


def pad_square(img: np.ndarray) -> np.ndarray:
    """Pad with black to a square: on the right (away from the chest wall) or top and bottom."""
    h, w = img.shape
    n = max(h, w)
    top = (n - h) // 2
    return np.pad(img, ((top, n - h - top), (0, n - w)))


def crop_breast(img: np.ndarray) -> np.ndarray:
    """The breast only (background, label and tags set to 0), chest wall left, square."""
    mask = breast_mask(img)
    img, mask = align_left(np.where(mask, img, 0).astype(np.uint8), mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return pad_square(np.ascontiguousarray(img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))


def load_mammogram(path: str | Path, size: int | None = None, resample: str = "lanczos") -> np.ndarray:
    """A mammogram as uint8 grey, cropped to the breast and aligned (see `crop_breast`), then
    resized to size x size: the crop is made at full resolution, before any resizing."""
    out = crop_breast(load_gray(path))
    if size is not None and out.shape != (size, size):
        out = np.array(Image.fromarray(out).resize((size, size), RESAMPLING[resample]), dtype=np.uint8)
    return out


load_mammogram.cache_tag = CACHE_TAG


def drawn_mammogram(size: int = 256, right: bool = False, seed: int = 0, label: bool = True) -> np.ndarray:
    """A drawn stand-in for a film mammogram, to show the preprocessing where no MIAS copy is at
    hand: a textured half-ellipse breast on the chest wall (left edge), noisy black film and a
    bright label in the far corner; `right` mirrors it. Not data: nothing is trained on it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(float)
    cy, ry, rx = size * rng.uniform(0.45, 0.55), size * rng.uniform(0.3, 0.45), size * rng.uniform(0.3, 0.5)
    inside = (x / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    tissue = 140 + 60 * ndimage.gaussian_filter(rng.normal(size=(size, size)), size / 48) / (0.3 * 48 / size)
    img = np.where(inside, np.clip(tissue, 60, 215), rng.integers(0, 4, (size, size))).astype(np.uint8)
    if label:
        img[size // 32:size // 32 + size // 8, size - size // 4:size - size // 32] = 255
    return img[:, ::-1].copy() if right else img
