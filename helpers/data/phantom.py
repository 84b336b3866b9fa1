"""Procedural breast-ultrasound phantoms: the course's offline, deterministic dataset.

Each image is built the way a B-mode scan is formed, in a few readable steps:

1. a tissue *echogenicity* map: skin, subcutaneous fat with Cooper's ligaments,
   fibroglandular tissue, retromammary fat and the striated pectoral muscle;
2. a lesion following the BI-RADS ultrasound descriptors radiologists use:
   - benign: oval, circumscribed, wider-than-tall, hypoechoic, posterior *enhancement*;
   - malignant: irregular or spiculated, taller-than-wide, heterogeneous, posterior
     acoustic *shadowing*, often an echogenic halo;
   - normal: no mass;
3. multiplicative *speckle* (the magnitude of a blurred complex Gaussian field, i.e.
   Rayleigh-distributed), depth attenuation with partial gain compensation and log
   compression;
4. scanner overlays: a black frame, annotation text ("LT BREAST 2:00") and, on many lesion
   images, caliper marks. Those overlays are deliberately correlated with the class, as in
   real data, so the course can show how a classifier may learn them as shortcuts.

A fraction of images are near-duplicates of an earlier one (another "frame" of the same
scan: tiny shift, different overlay text), reproducing BUSI's duplicate structure so the
grouped-split lesson is measurable offline. Everything is deterministic in
(seed, class, index): changing the class counts does not change the images already made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

CLASSES = ("benign", "malignant", "normal")
DEFAULT_COUNTS = {"benign": 437, "malignant": 210, "normal": 133}
_CLASS_SALT = {"benign": 11, "malignant": 23, "normal": 37}

# Fraction of images that are another frame of an earlier image of the same class.
DUPLICATE_RATE = 0.15


@dataclass
class Phantom:
    image: np.ndarray  # uint8 (H, W), the scan with overlays
    mask: np.ndarray  # uint8 (H, W), 255 inside the lesion (all 0 for normal)
    group_hint: int  # index of the image this one is a frame of (itself if original)


def _smooth_noise(rng, shape, sigma):
    return ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")


def _normalise(a):
    a = a - a.min()
    return a / (a.max() + 1e-8)


def _tissue(rng, s):
    """Echogenicity of the layered breast tissue, values roughly in [0, 1]."""
    y = np.linspace(0, 1, s)[:, None] * np.ones((1, s))
    x = np.ones((s, 1)) * np.linspace(0, 1, s)[None, :]
    wobble = lambda amp, sig: amp * _normalise(_smooth_noise(rng, (1, s), sig))[0] - amp / 2  # noqa: E731
    skin = 0.035 + rng.uniform(0, 0.02)
    fat_end = rng.uniform(0.18, 0.32) + wobble(0.08, s / 10)
    gland_end = rng.uniform(0.62, 0.78) + wobble(0.10, s / 8)
    muscle_start = gland_end + rng.uniform(0.06, 0.12)

    e = np.full((s, s), 0.30)
    e[y < skin] = 0.95
    fat = (y >= skin) & (y < fat_end)
    e[fat] = 0.28 + 0.08 * _normalise(_smooth_noise(rng, (s, s), s / 20))[fat]
    gland = (y >= fat_end) & (y < gland_end)
    lobules = _normalise(_smooth_noise(rng, (s, s), (s / 70, s / 14)))  # elongated along the skin
    e[gland] = (0.35 + 0.55 * lobules ** 1.5)[gland]
    e[(y >= gland_end) & (y < muscle_start)] = 0.25
    muscle = y >= muscle_start
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (y * rng.uniform(14, 22) + 0.3 * _smooth_noise(rng, (s, s), s / 12)))
    e[muscle] = (0.30 + 0.35 * stripes)[muscle]

    # Cooper's ligaments: thin bright arcs crossing the fat layer.
    for _ in range(rng.integers(2, 5)):
        cx, r = rng.uniform(0, 1), rng.uniform(0.15, 0.5)
        ring = np.abs(np.hypot(x - cx, (y - fat_end.mean() - r * 0.6) * 1.4) - r)
        e = np.where(fat & (ring < 0.006), 0.8, e)
    e *= 1 + 0.15 * _smooth_noise(rng, (s, s), s / 6)
    return np.clip(e, 0.02, 1.0)


def _lesion_mask(rng, s, kind):
    """Boolean lesion mask and its bounding geometry, following the class descriptors."""
    yy, xx = np.mgrid[0:s, 0:s] / s
    cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.38, 0.58)
    theta = np.arctan2(yy - cy, xx - cx)
    if kind == "benign":
        w = rng.uniform(0.10, 0.17)
        h = w * rng.uniform(0.45, 0.75)  # wider than tall ("parallel" orientation)
        lobes = rng.integers(0, 3)
        radius = 1 + 0.06 * np.cos(lobes * theta + rng.uniform(0, 6.28))
        rho = np.hypot((xx - cx) / w, (yy - cy) / h)
        mask = rho < radius
    else:
        w = rng.uniform(0.07, 0.12)
        h = w * rng.uniform(1.15, 1.6)  # taller than wide ("not parallel")
        base = 1 + 0.25 * _smooth_noise(rng, (1, 361), 5)[0] / 0.1  # microlobulated margin
        radius = np.interp(np.degrees(theta) % 360, np.arange(361), np.clip(base, 0.6, 1.5))
        n_spic = rng.integers(4, 14)
        for a in rng.uniform(-np.pi, np.pi, n_spic):
            d = np.angle(np.exp(1j * (theta - a)))
            radius = radius + rng.uniform(0.15, 0.5) * np.exp(-(d / 0.04) ** 2)
        rho = np.hypot((xx - cx) / w, (yy - cy) / h)
        mask = rho < radius
    ys, xs = np.nonzero(mask)
    return mask, (xs.min(), xs.max(), ys.min(), ys.max())


def _posterior(mask, s, strength):
    """Multiplicative column-wise effect below the lesion (enhancement > 1, shadow < 1)."""
    cols = mask.any(axis=0)
    bottom = np.where(cols, s - 1 - np.argmax(mask[::-1], axis=0), s)
    yy = np.arange(s)[:, None]
    below = (yy > bottom[None, :]) & cols[None, :]
    fade = np.exp(-np.clip(yy - bottom[None, :], 0, None) / (0.6 * s))
    effect = 1 + (strength - 1) * below * fade
    return ndimage.gaussian_filter(effect, s / 90)


def _speckle(rng, s, grain):
    """Rayleigh speckle: |blurred complex Gaussian|, elongated laterally like a real PSF."""
    z = rng.standard_normal((s, s)) + 1j * rng.standard_normal((s, s))
    sig = (grain * 0.6, grain * 1.4)
    re = ndimage.gaussian_filter(z.real, sig)
    im = ndimage.gaussian_filter(z.imag, sig)
    mag = np.hypot(re, im)
    return (mag / mag.mean()) ** 0.7  # log-compressed speckle is less contrasted than raw Rayleigh


def _font(px):
    try:
        return ImageFont.load_default(size=max(6, px))
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


def _overlays(img, rng, kind, bbox, s):
    """Frame, annotation text, depth ticks and (often on lesions) calipers, drawn in place."""
    draw = ImageDraw.Draw(img)
    side = rng.choice(["LT", "RT", "LEFT", "RIGHT"])
    clock = f"{rng.integers(1, 13)}:00"
    text = rng.choice([f"{side} BREAST", f"{side} BR {clock}", f"{side} {clock} {rng.integers(1, 6)}CM FN"])
    fs = max(6, s // 22)
    draw.text((int(s * 0.04), int(s * 0.005)), text, fill=int(rng.integers(200, 256)), font=_font(fs))
    for t in range(1, 5):  # depth scale on the right edge
        yv = int(s * (0.1 + 0.2 * t))
        draw.line([(s - int(s * 0.03), yv), (s - 2, yv)], fill=180)
    has_calipers = kind != "normal" and rng.random() < (0.55 if kind == "malignant" else 0.35)
    if has_calipers:
        x0, x1, y0, y1 = bbox
        m = max(2, s // 64)
        ym, xm = (y0 + y1) // 2, (x0 + x1) // 2
        for px, py in [(x0, ym), (x1, ym), (xm, y0), (xm, y1)]:
            draw.line([(px - m, py), (px + m, py)], fill=255)
            draw.line([(px, py - m), (px, py + m)], fill=255)
        for px in range(x0, x1, max(3, s // 40)):  # dotted measurement line
            draw.point((px, ym), fill=230)
    return img


def make_phantom(kind: str, index: int, seed: int = 0, size: int = 256) -> Phantom:
    """One phantom image of class `kind`, deterministic in (seed, kind, index)."""
    if kind not in CLASSES:
        raise ValueError(f"Unknown phantom class {kind!r}; expected one of {CLASSES}.")
    # Near-duplicates: some images are another frame of an earlier image of the class,
    # followed back to the original scan.
    source = _frame_source(kind, index, seed)
    while _frame_source(kind, source, seed) != source:
        source = _frame_source(kind, source, seed)
    rng = np.random.default_rng([seed, _CLASS_SALT[kind], source])
    s = size
    echo = _tissue(rng, s)
    mask = np.zeros((s, s), bool)
    bbox = (0, 0, 0, 0)
    if kind != "normal":
        mask, bbox = _lesion_mask(rng, s, kind)
        soft = ndimage.gaussian_filter(mask.astype(float), 0.8 if kind == "benign" else 0.4)
        if kind == "benign":
            inside = rng.uniform(0.05, 0.12) * (1 + 0.2 * _smooth_noise(rng, (s, s), 3))
            post = _posterior(mask, s, rng.uniform(1.35, 1.7))
        else:
            inside = rng.uniform(0.06, 0.16) * (1 + 1.2 * _normalise(_smooth_noise(rng, (s, s), 1.5)))
            post = _posterior(mask, s, rng.uniform(0.2, 0.45))
            halo = ndimage.binary_dilation(mask, iterations=max(1, s // 80)) & ~mask
            echo = np.where(halo, echo * 1.5, echo)
        echo = echo * (1 - soft) + inside * soft
        echo = echo * post
    grain = max(0.5, s / 256 * 1.0)
    speckle_rng = np.random.default_rng([seed, _CLASS_SALT[kind], source, 2])
    img = echo * _speckle(speckle_rng, s, grain)
    depth = np.linspace(0, 1, s)[:, None]
    img *= np.exp(-rng.uniform(1.0, 1.8) * depth) * (1 + rng.uniform(0.4, 0.9) * depth)  # attenuation, TGC
    img = np.log1p(25 * img) / np.log1p(25 * np.percentile(img, 99.5))
    img = np.clip(img * rng.uniform(0.8, 1.0), 0, 1) ** 1.3
    if source != index:  # another frame: small probe motion and gain change
        frame = np.random.default_rng([seed, _CLASS_SALT[kind], index, 3])
        dy, dx = frame.integers(-1, 2, size=2) * (s // 256)  # a pixel or so at full size
        img = np.roll(img, (dy, dx), axis=(0, 1)) * frame.uniform(0.97, 1.03)
        mask = np.roll(mask, (dy, dx), axis=(0, 1))
    # Frame: a black band at the top for text and thin black side margins.
    top, margin = int(s * 0.06), int(s * 0.02)
    img[:top], img[:, :margin], img[:, s - margin:] = 0, 0, 0
    out = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L")
    # A frame keeps its scan's annotation and calipers (same operator, same screen).
    overlay_rng = np.random.default_rng([seed, _CLASS_SALT[kind], source, 4])
    out = _overlays(out, overlay_rng, kind, bbox, s)
    return Phantom(np.asarray(out), (mask * 255).astype(np.uint8), source)


def _frame_source(kind, index, seed):
    """The earlier image this one is a frame of, or itself."""
    pick = np.random.default_rng([seed, _CLASS_SALT[kind], index, 1])
    if index > 3 and pick.random() < DUPLICATE_RATE:
        return int(pick.integers(0, index))
    return index


def write_phantom_dataset(dest: str | Path, counts: dict | None = None, seed: int = 0, size: int = 256,
                          masks: bool = True, progress: bool = True) -> dict:
    """Write phantoms in the official BUSI layout: `<dest>/<class>/<class> (i).png`, with
    `<class> (i)_mask.png` beside each image when `masks` is true. Existing files are kept
    (re-running finishes an interrupted run). Returns the number of images per class."""
    from tqdm.auto import tqdm

    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    dest = Path(dest)
    jobs = [(k, i) for k in CLASSES for i in range(counts.get(k, 0))]
    for kind, i in tqdm(jobs, desc="phantom images", disable=not progress, unit="img"):
        folder = dest / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind} ({i + 1}).png"
        if path.exists() and (not masks or (folder / f"{kind} ({i + 1})_mask.png").exists()):
            continue
        ph = make_phantom(kind, i, seed=seed, size=size)
        _atomic_png(Image.fromarray(ph.image, mode="L"), path)
        if masks:
            _atomic_png(Image.fromarray(ph.mask, mode="L"), folder / f"{kind} ({i + 1})_mask.png")
    return {k: counts.get(k, 0) for k in CLASSES}


def _atomic_png(img: Image.Image, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    img.save(tmp, format="PNG")
    tmp.replace(path)
