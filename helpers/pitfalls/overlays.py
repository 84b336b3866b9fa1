"""Scanner overlays (annotation text, caliper marks, depth ticks): find them, paint them out.

Overlays are drawn by the scanner on top of the image: thin strokes, much brighter than the
tissue right around them. A white top-hat finds such strokes,

    tophat(x) = x - opening(x),   opening = erosion then dilation with a k x k square,

which is large only on bright structures narrower than k (k = 3 px at 256 px, scaled with the
image). A pixel is an overlay pixel when it is bright (>= `bright`) AND its top-hat exceeds
`contrast`; the mask is dilated by a pixel or two to cover anti-aliased edges. Masked pixels
are then filled from their surroundings by normalised convolution,

    fill = B_w * (x (1 - m)) / B_w * (1 - m),

the mean of the unmasked neighbours in a w x w window B_w (w about 1/48 of the image). On the phantom (where the overlays are
known) this finds about 99% of the overlay pixels, and about 3 in 4 masked pixels are overlay
(the rest: bright speckle right beside a stroke, and single bright speckle peaks). On BUSI it
finds text and bright marks; faint grey calipers are mostly missed.
A heuristic, then: look at the figures before trusting a number built on it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi

from helpers.data.images import load_gray
from helpers.parallel import ordered_map

BRIGHT, CONTRAST = 150, 100


def overlay_mask(img: np.ndarray, bright: int = BRIGHT, contrast: int = CONTRAST) -> np.ndarray:
    """Boolean (H, W) mask of overlay pixels of a uint8 grayscale image (see module doc)."""
    s = min(img.shape)
    k = max(3, int(round(s / 85)) | 1)
    f = img.astype(np.float32)
    tophat = f - ndi.grey_opening(f, size=(k, k))
    m = (f >= bright) & (tophat >= contrast)
    return ndi.binary_dilation(m, iterations=max(1, s // 128)) if m.any() else m


def inpaint(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with masked pixels replaced by the mean of their unmasked neighbours in a
    square window (normalised convolution with a box filter, which costs the same for any
    window), widened where a window holds no unmasked pixel."""
    if not mask.any():
        return img.copy()
    f = img.astype(np.float32)
    keep = (~mask).astype(np.float32)
    out = f.copy()
    todo = mask.copy()
    width = max(3, int(round(min(img.shape) / 48)) | 1)
    while todo.any() and width < 4 * max(img.shape):
        num, den = ndi.uniform_filter(f * keep, width), ndi.uniform_filter(keep, width)
        ok = todo & (den > 0.05)
        out[ok] = num[ok] / den[ok]
        todo &= ~ok
        width = 2 * width + 1
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def masked(img: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray]:
    """(image with overlays painted out, overlay mask)."""
    m = overlay_mask(img, **kw)
    return inpaint(img, m), m


def masked_dataset(records: pd.DataFrame, out_dir, progress: bool = True, **kw) -> pd.DataFrame:
    """Write every record's image with its overlays painted out, at its stored resolution (so
    that resizing, thumbnails and near-duplicate tests treat it exactly like the original), to
    `out_dir/<class>/<i>_<name>.png`; returns the records pointing at them, with `image` (the
    original path) and `overlay_share` (masked fraction of the image). Reuses a finished set."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    key = hashlib.sha1(json.dumps([list(map(str, records["path"])), kw], sort_keys=True).encode()).hexdigest()
    done = out_dir / "masked.csv"
    if done.exists() and (out_dir / "key.txt").exists() and (out_dir / "key.txt").read_text() == key:
        table = pd.read_csv(done)
        if len(table) == len(records) and all(Path(p).exists() for p in table["path"]):
            return records.assign(image=records["path"].astype(str), path=table["path"].to_numpy(),
                                  overlay_share=table["overlay_share"].to_numpy())
    jobs = [(r.path, str(out_dir / str(r.class_name) / f"{i:05d}_{Path(r.path).stem}.png"), kw)
            for i, r in enumerate(records.itertuples())]
    # one process per core: per-image NumPy work, the same files as one process
    written = list(tqdm(ordered_map(_mask_one, jobs), total=len(jobs), desc="masking overlays", unit="img",
                        disable=not progress))
    paths, shares = [p for p, _ in written], [share for _, share in written]
    pd.DataFrame(dict(path=paths, overlay_share=shares)).to_csv(done, index=False)
    (out_dir / "key.txt").write_text(key)
    return records.assign(image=records["path"].astype(str), path=paths, overlay_share=shares)


def _mask_one(job) -> tuple[str, float]:
    """One image of masked_dataset: (where it was written, masked fraction)."""
    src, dest, kw = job
    img, m = masked(load_gray(src), **kw)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(dest, compress_level=1)  # fast; read back exactly
    return str(Path(dest).resolve()), float(m.mean())


def masks_at(records: pd.DataFrame, size: int, **kw) -> np.ndarray:
    """Overlay masks of the records' images at the classifier's size (N, size, size) bool: a
    pixel is overlay when any stored pixel it covers is."""
    out = np.zeros((len(records), size, size), dtype=bool)
    for i, p in enumerate(records["path"]):
        m = overlay_mask(load_gray(p), **kw)
        out[i] = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.BOX)) > 0
    return out
