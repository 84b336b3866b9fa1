"""A drawn stand-in for BreakHis, in its official layout, for where no copy of it is at hand.

BreakHis cannot be downloaded by a script (its owners hand it out on request), so the
histopathology notebook (05b) and the tests run on this stand-in unless a real copy is given.
It is NOT data: nothing measured on it says anything about breast cancer. It only has the
shape of the real thing, so that every step runs as it would on BreakHis:

- RGB PNGs named and filed as the release (`SOB_<B|M>_<subtype>-<patient>-<mag>-<i>.png` under
  `BreaKHis_v1/histology_slides/breast/<class>/SOB/<subtype>/SOB_..._<patient>/<mag>X/`);
- H&E-like colour drawn by the Beer-Lambert law from a haematoxylin map (nuclei, purple) and
  an eosin map (stroma, pink) with the stain vectors of Ruifrok & Johnston (2001);
- benign: small, even nuclei lined up around gland lumens; malignant: larger, uneven, darker
  nuclei crowded without order; a higher magnification shows fewer, larger nuclei;
- each patient has its own stain strength and hue (slides are stained in batches), so
  images of one patient resemble each other more than the class does: the reason patients
  must be the groups of every split.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from helpers.config import default_data_dir, resolve, setup
from helpers.data.breakhis import BENIGN_SUBTYPES, FOLDER, MAGNIFICATIONS, SUBTYPES, TASKS
from helpers.errors import DataError

MARKER = ".standin.json"
# Optical densities per unit stain, RGB (Ruifrok & Johnston 2001): haematoxylin, eosin.
H_OD = np.array([0.65, 0.70, 0.29])
E_OD = np.array([0.07, 0.99, 0.11])
# Per profile: patients per class, magnifications, images per patient and magnification, image
# size (width, height; the release's 700x460 scaled down). Seven patients per class at least:
# the grouped test part is a seventh of the groups of each class.
PROFILES = {
    "smoke": dict(patients={"B": 7, "M": 8}, mags=(40,), per_mag=2, size=(70, 46)),
    "quick": dict(patients={"B": 10, "M": 14}, mags=(40, 100), per_mag=4, size=(175, 115)),
    "paper": dict(patients={"B": 24, "M": 58}, mags=MAGNIFICATIONS, per_mag=6, size=(350, 230)),
}


def _nuclei(shape, n, radius, spread, rng, glands: bool) -> np.ndarray:
    """(haematoxylin density (H, W) of `n` elliptic nuclei of about `radius` px (relative size
    variation `spread`), lumen mask (H, W)); with `glands`, the nuclei line rings around round,
    empty lumens."""
    h, w = shape
    out, lumen = np.zeros(shape), np.zeros(shape, bool)
    yy, xx = np.mgrid[0:h, 0:w]
    if glands:
        centres = rng.uniform((0, 0), (h, w), size=(max(1, n // 14), 2))
        ang = rng.uniform(0, 2 * np.pi, n)
        ring = centres[rng.integers(len(centres), size=n)]
        rad = radius * rng.uniform(4, 6, n)
        pos = ring + np.stack([np.sin(ang), np.cos(ang)], 1) * rad[:, None]
        for cy, cx in centres:
            lumen |= (yy - cy) ** 2 + (xx - cx) ** 2 < (3.2 * radius) ** 2
    else:
        pos = rng.uniform((0, 0), (h, w), size=(n, 2))
    for (cy, cx), s, a in zip(pos, radius * (1 + spread * rng.standard_normal(n)).clip(0.5 * radius),
                              rng.uniform(0, np.pi, n)):
        r = int(2 * s) + 2
        y0, y1, x0, x1 = max(0, int(cy) - r), min(h, int(cy) + r), max(0, int(cx) - r), min(w, int(cx) + r)
        if y0 >= y1 or x0 >= x1:
            continue
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
        inside = (u / s) ** 2 + (v / (0.7 * s)) ** 2 <= 1
        out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], inside * rng.uniform(0.7, 1.0))
    return ndimage.gaussian_filter(out, 0.6), lumen


def _smooth_noise(shape, sigma, rng) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    g = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return g / (g.std() + 1e-9)


def tissue(size, malignant: bool, mag: int, stain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 (H, W, 3) H&E-like field of view; `stain` = (haematoxylin, eosin) strength."""
    w, h = size
    zoom = np.sqrt(mag / 40)  # a higher magnification: fewer, larger nuclei
    radius = max(1.2, w / 120 * zoom * (1.4 if malignant else 1.0))
    n = int(w * h / (radius ** 2) / (14 if malignant else 30))
    hema, lumen = _nuclei((h, w), n, radius, 0.35 if malignant else 0.1, rng, glands=not malignant)
    hema *= 1.3 if malignant else 1.0  # crowded, hyperchromatic nuclei
    eosin = 0.5 + 0.12 * _smooth_noise((h, w), w / 30, rng) + 0.1 * _smooth_noise((h, w), (0.8, 3.0), rng)
    eosin *= 1 - 0.85 * ndimage.gaussian_filter(lumen.astype(float), 1.0)  # glands' empty, white lumens
    od = stain[0] * hema[..., None] * H_OD + stain[1] * eosin.clip(0)[..., None] * E_OD
    rgb = 255 * np.exp(-od) + rng.normal(0, 3, (h, w, 3))  # + camera noise
    return np.clip(rgb, 0, 255).astype(np.uint8)


def settings(profile: str, seed: int) -> dict:
    p = PROFILES[profile]
    return dict(profile=profile, seed=int(seed), patients=p["patients"], mags=list(p["mags"]), per_mag=p["per_mag"],
                size=list(p["size"]), version=1)


def write_standin(root: str | Path, profile: str = "quick", seed: int = 0) -> Path:
    """Draw the stand-in under `root/BreaKHis_v1/` (skipped when `root` already holds this one);
    returns `root`. Refuses a folder that holds anything but a stand-in."""
    if profile not in PROFILES:
        raise DataError(f"No BreakHis stand-in for profile {profile!r}; choose one of {', '.join(PROFILES)}.")
    root = Path(root)
    want = settings(profile, seed)
    marker = root / MARKER
    if marker.exists() and json.loads(marker.read_text()) == want:
        return root
    if root.exists() and any(p.name != MARKER for p in root.iterdir()) and not marker.exists():
        raise DataError(f"{root} is not empty and is not a BreakHis stand-in folder; nothing was written. Choose "
                        "another folder.")
    shutil.rmtree(root / FOLDER, ignore_errors=True)  # an older stand-in (marker present): redraw it
    marker.unlink(missing_ok=True)
    p = PROFILES[profile]
    rng = np.random.default_rng(seed)
    codes = {"B": BENIGN_SUBTYPES, "M": [c for c in SUBTYPES if c not in BENIGN_SUBTYPES]}
    base = root / FOLDER / "histology_slides" / "breast"
    for bm, tumour in (("B", "benign"), ("M", "malignant")):
        for k in range(p["patients"][bm]):
            code = codes[bm][k % 4]
            patient = f"{14 + k % 3}-{10000 + 97 * k + (bm == 'M') * 5000}"
            stain = rng.uniform((0.8, 0.6), (1.6, 1.2))  # this patient's slide: its own stain strength
            for mag in p["mags"]:
                folder = base / tumour / "SOB" / SUBTYPES[code] / f"SOB_{bm}_{code}_{patient}" / f"{mag}X"
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(1, p["per_mag"] + 1):
                    img = tissue(p["size"], bm == "M", mag, stain, rng)
                    Image.fromarray(img, mode="RGB").save(folder / f"SOB_{bm}_{code}-{patient}-{mag}-{i:03d}.png")
    marker.write_text(json.dumps(want))  # last: a folder without it is unfinished
    return root


def histology_config(profile: str, dataset: str = "phantom", data_dir: str = "", runs_dir: str = "", seed: int = 0,
                     breakhis_dir: str = ""):
    """(cfg, real) for notebook 05b: real BreakHis when the course runs on it (`dataset`
    breakhis/breakhis8 with a `data_dir`), when `breakhis_dir` (COURSE_BREAKHIS_DIR) is given,
    or when the course's default folder data/breakhis exists; else the stand-in, drawn under
    the runs folder. Runs go to `<runs>/histopathology/`, apart from the course's own dataset."""
    base = resolve(profile, dataset, data_dir or None, runs_dir or None, seed)
    seed = base.seed  # the notebook passes COURSE_SEED's text; resolve checked it
    runs = base.runs_dir / "histopathology"
    if dataset in TASKS.values() and data_dir:
        source, folder, real = dataset, Path(data_dir), True
    elif breakhis_dir:
        source, folder, real = "breakhis", Path(breakhis_dir), True
    elif default_data_dir("breakhis", profile).is_dir() and any(default_data_dir("breakhis", profile).iterdir()):
        source, folder, real = "breakhis", default_data_dir("breakhis", profile), True
    else:
        source, real = "breakhis", False
        folder = write_standin(base.runs_dir / "histopathology-standin", profile, seed)
    return setup(profile, source, folder, runs, seed), real
