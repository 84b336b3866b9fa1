"""Procedural breast-ultrasound phantoms: the course's offline, deterministic dataset.

Each image is made the way a scanner makes one, so that it is about as hard to classify as
BUSI and has BUSI's pitfalls:

1. anatomy (anatomy.py): skin, fat lobules and Cooper's ligaments, fibroglandular tissue,
   pectoral muscle, sometimes a rib — different in every woman;
2. a mass for benign and malignant images (lesions.py), drawn from BI-RADS descriptors whose
   odds differ by class but overlap: some fibroadenomas look irregular, some cancers oval;
3. image formation (bmode.py): scatterers, attenuation, the probe's point-spread function,
   envelope, time-gain compensation and log compression, with per-scan depth, gain and
   dynamic range, at BUSI's varied image sizes (scan.py);
4. the sonographer's overlays (overlays.py): text, depth marks and calipers, more often on
   lesion images — a shortcut, at about BUSI's strength;
5. near-duplicates (scan.py): about a quarter of the images are another frame of a scan just
   before them, a few of them filed under the other lesion class, as in BUSI.

Everything is deterministic in (seed, class, index): changing the class counts never changes
the images already made. `size` is the nominal image side: widths vary from about 0.4x to 2x
of it (BUSI's 190-1050 px at size 512); heights follow each scan's aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.parallel import ordered_map

from . import anatomy, bmode, lesions, overlays, scan

CLASSES = ("benign", "malignant", "normal")
DEFAULT_COUNTS = {"benign": 437, "malignant": 210, "normal": 133}
PHANTOM_VERSION = 3  # bump whenever the images change: data folders record it and regenerate
MAX_GRID = 240  # rows of the simulation grid; larger images are simulated at this and resized


@dataclass
class Phantom:
    image: np.ndarray  # uint8 (H, W), the scan with overlays
    mask: np.ndarray  # uint8 (H, W), 255 inside the lesion (all 0 when the scan has none)
    source: tuple = ()  # (class, index) of the original scan; another class for a label conflict


def _rng(seed: int, kind: str, index: int, stream: int):
    return np.random.default_rng([seed, scan.CLASS_SALT[kind], index, stream])


def make_phantom(kind: str, index: int, seed: int = 0, size: int = 256) -> Phantom:
    """One phantom image of class `kind`, deterministic in (seed, kind, index)."""
    if kind not in CLASSES:
        raise ValueError(f"Unknown phantom class {kind!r}; expected one of {CLASSES}.")
    src_kind, src = scan.original(kind, index, seed)
    rng = _rng(seed, src_kind, src, 0)
    W, H = scan.image_size(rng, size)
    desc = lesions.describe(_rng(seed, src_kind, src, 6), src_kind) if src_kind != "normal" else None
    probe = scan.probe(rng, desc["size_mm"] if desc else None)
    h = min(H, MAX_GRID)
    w = max(8, int(round(h * W / H)))
    m = max(2, w // 40)  # spare columns on both sides: room for another frame's probe motion
    tissue = anatomy.breast(_rng(seed, src_kind, src, 5), h, w + 2 * m, probe.depth_mm)
    mask = np.zeros((h, w + 2 * m), bool)
    if desc:
        mask = lesions.insert(_rng(seed, src_kind, src, 7), tissue, desc)
    gray = bmode.form_image(_rng(seed, src_kind, src, 2), tissue.echo, tissue.density, tissue.atten,
                            tissue.pitch, probe)
    shift = 0
    if (src_kind, src) != (kind, index):  # another frame: the probe moved a little, gain changed
        frame = _rng(seed, kind, index, 3)
        shift = int(frame.integers(-m, m + 1))
        gray = np.clip(gray * frame.uniform(0.95, 1.05), 0, 1)
    cols = slice(m + shift, m + shift + w)
    img = Image.fromarray(gray[:, cols].astype(np.float32), mode="F").resize((W, H), Image.Resampling.BICUBIC)
    img = Image.fromarray(np.clip(np.asarray(img) * 255 + 0.5, 0, 255).astype(np.uint8), mode="L")
    mask_img = Image.fromarray(mask[:, cols].astype(np.uint8) * 255, mode="L").resize((W, H), Image.Resampling.BILINEAR)
    mask_out = (np.asarray(mask_img) >= 128).astype(np.uint8) * 255
    box = None
    if mask_out.any():
        ys, xs = np.nonzero(mask_out)
        box = (xs.min(), xs.max(), ys.min(), ys.max())
    sess = overlays.session(_rng(seed, src_kind, src, 8))
    overlays.draw(img, _rng(seed, kind, index, 4), kind, sess, box, probe.focus_mm / probe.depth_mm)
    return Phantom(np.asarray(img), mask_out, (src_kind, src))


def write_phantom_dataset(dest: str | Path, counts: dict | None = None, seed: int = 0, size: int = 256,
                          masks: bool = True, progress: bool = True, workers: int | None = None) -> dict:
    """Write phantoms in the official BUSI layout: `<dest>/<class>/<class> (i).png`, with
    `<class> (i)_mask.png` beside each image when `masks` is true. Existing files are kept
    (re-running finishes an interrupted run). Returns the number of images per class.

    Each image depends only on (seed, class, index), so a large set is drawn by `workers`
    processes (default: one per core) with the same result as one process."""
    from tqdm.auto import tqdm

    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    dest = Path(dest)
    for kind in CLASSES:
        if counts.get(kind, 0):
            (dest / kind).mkdir(parents=True, exist_ok=True)
    jobs = [(k, i) for k in CLASSES for i in range(counts.get(k, 0))]
    todo = [(str(dest), k, i, seed, size, masks) for k, i in jobs if not _written(dest, k, i, masks)]
    for _ in tqdm(ordered_map(_write_one, todo, workers), total=len(jobs), initial=len(jobs) - len(todo),
                  desc="phantom images", disable=not progress, unit="img"):
        pass
    return {k: counts.get(k, 0) for k in CLASSES}


def _paths(dest: str | Path, kind: str, i: int) -> tuple[Path, Path]:
    """Image i of a class and its mask, named as BUSI names them (numbered from 1)."""
    folder = Path(dest) / kind
    return folder / f"{kind} ({i + 1}).png", folder / f"{kind} ({i + 1})_mask.png"


def _written(dest: Path, kind: str, i: int, masks: bool) -> bool:
    image, mask = _paths(dest, kind, i)
    return image.exists() and (not masks or mask.exists())


def _write_one(job) -> None:
    dest, kind, i, seed, size, masks = job
    image, mask = _paths(dest, kind, i)
    ph = make_phantom(kind, i, seed=seed, size=size)
    _atomic_png(Image.fromarray(ph.image, mode="L"), image)
    if masks:
        _atomic_png(Image.fromarray(ph.mask, mode="L"), mask)


def _atomic_png(img: Image.Image, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    img.save(tmp, format="PNG", compress_level=1)  # 5x faster than the default, 15% larger
    tmp.replace(path)
