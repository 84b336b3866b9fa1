"""Masses described with the BI-RADS ultrasound lexicon, as *tendencies*, not rules.

Radiologists describe a mass by its shape, orientation, margin, echo pattern and posterior
features. Each descriptor shifts the odds of malignancy, but none decides it: many
fibroadenomas are lobulated or indistinct, some cancers are oval and circumscribed, a benign
complicated cyst may shadow and a cancer may enhance. The tables below give each class its own
odds for every descriptor and the two classes overlap everywhere, so a classifier must weigh
several weak cues, as on real data. Small and isoechoic masses are hard to see at all.
"""

from __future__ import annotations

import numpy as np

from .anatomy import FAT, GLAND, Tissue
from .fields import blur, pick, smooth_noise

# P(descriptor | class). Odds are loosely after published BI-RADS series (e.g. Hong et al.,
# AJR 2005), softened so that every value occurs in both classes.
SHAPE = {"benign": {"oval": 0.56, "round": 0.12, "lobulated": 0.16, "irregular": 0.16},
         "malignant": {"oval": 0.12, "round": 0.06, "lobulated": 0.10, "irregular": 0.72}}
MARGIN = {"benign": {"circumscribed": 0.56, "indistinct": 0.20, "microlobulated": 0.13, "angular": 0.07,
                     "spiculated": 0.04},
          "malignant": {"circumscribed": 0.08, "indistinct": 0.32, "microlobulated": 0.18, "angular": 0.20,
                        "spiculated": 0.22}}
ECHO = {"benign": {"anechoic": 0.28, "hypoechoic": 0.44, "isoechoic": 0.12, "complex": 0.09,
                   "heterogeneous": 0.07},
        "malignant": {"anechoic": 0.02, "hypoechoic": 0.55, "isoechoic": 0.08, "complex": 0.13,
                      "heterogeneous": 0.22}}
POSTERIOR = {"benign": {"enhancement": 0.42, "none": 0.43, "shadowing": 0.10, "combined": 0.05},
             "malignant": {"enhancement": 0.10, "none": 0.32, "shadowing": 0.48, "combined": 0.10}}
PARALLEL = {"benign": 0.85, "malignant": 0.5}  # wider than tall
HALO = {"benign": 0.05, "malignant": 0.45}  # echogenic rim
CALCIFICATIONS = {"benign": 0.05, "malignant": 0.30}
SMALL = 0.08  # share of masses under 8 mm, in both classes
SIZE_MM = {"benign": (13.0, 0.45), "malignant": (19.0, 0.35)}  # lognormal median, sigma


def describe(rng, kind: str) -> dict:
    """Draw one mass's descriptors for class `kind` (benign or malignant)."""
    d = dict(shape=pick(rng, SHAPE[kind]), margin=pick(rng, MARGIN[kind]), echo=pick(rng, ECHO[kind]),
             posterior=pick(rng, POSTERIOR[kind]), parallel=bool(rng.random() < PARALLEL[kind]),
             halo=bool(rng.random() < HALO[kind]), calcifications=bool(rng.random() < CALCIFICATIONS[kind]))
    median, sigma = SIZE_MM[kind]
    d["size_mm"] = float(np.clip(median * np.exp(sigma * rng.standard_normal()), 3.5, 40))
    if rng.random() < SMALL:  # a small mass, found early (or a small cyst)
        d["size_mm"] = float(rng.uniform(4, 8))
    if d["echo"] == "anechoic" and rng.random() < 0.7:  # fluid transmits sound: usually enhances
        d["posterior"] = "enhancement"
    return d


def _radius(rng, theta: np.ndarray, shape: str, margin: str) -> np.ndarray:
    """The outline as a radius factor r(theta) around an ellipse (1 = the ellipse itself)."""
    r = np.ones_like(theta)
    if shape == "lobulated":  # two to four gentle lobes
        r += rng.uniform(0.07, 0.15) * np.cos(rng.integers(2, 5) * theta + rng.uniform(0, 6.3))
    elif shape == "irregular":  # low-frequency random outline
        for n in range(2, 6):
            r += rng.uniform(0.03, 0.11) / (n - 1) ** 0.5 * np.cos(n * theta + rng.uniform(0, 6.3))
    if margin == "microlobulated":  # many small undulations
        r += rng.uniform(0.03, 0.07) * np.cos(rng.integers(9, 17) * theta + rng.uniform(0, 6.3))
    elif margin == "angular":  # a few sharp corners: piecewise-linear radius between vertices
        k = rng.integers(5, 9)
        knots = np.sort(rng.uniform(-np.pi, np.pi, k))
        vals = rng.uniform(0.8, 1.2, k)
        r *= np.interp(theta, np.r_[knots - 2 * np.pi, knots, knots + 2 * np.pi], np.r_[vals, vals, vals])
    elif margin == "spiculated":  # thin spikes radiating out
        for a in rng.uniform(-np.pi, np.pi, rng.integers(5, 13)):
            dth = np.angle(np.exp(1j * (theta - a)))
            r += rng.uniform(0.15, 0.45) * np.exp(-(dth / rng.uniform(0.03, 0.06)) ** 2)
    return r


def insert(rng, t: Tissue, d: dict) -> np.ndarray:
    """Put the mass described by `d` into the tissue maps (in place); returns its boolean mask."""
    h, w = t.echo.shape
    p = t.pitch
    a = d["size_mm"] / 2 / p  # lateral semi-axis, px
    b = a * (rng.uniform(0.5, 0.85) if d["parallel"] else rng.uniform(1.05, 1.45))
    if d["shape"] == "round":
        b = a * rng.uniform(0.9, 1.1)
    b = min(b, 0.28 * h)
    a = min(a, 0.36 * w)
    cx = rng.uniform(0.25, 0.75) * w
    col = int(np.clip(cx, 0, w - 1))
    lo, hi = max(t.gland_top[col], b + 0.08 * h), min(t.gland_bottom[col], 0.72 * h - b)
    cz = rng.uniform(lo, hi) if hi > lo else float(np.clip((lo + hi) / 2, b + 2, h - b - 2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.arctan2((yy - cz) / b, (xx - cx) / a)
    rho = np.hypot((xx - cx) / a, (yy - cz) / b)
    outline = _radius(rng, theta, d["shape"], d["margin"])
    edge = {"circumscribed": 0.15, "indistinct": rng.uniform(0.8, 1.8)}.get(d["margin"], 0.35) / p
    ragged = 0.12 * smooth_noise(rng, (h, w), (1 / p, 1 / p)) if d["margin"] == "indistinct" else 0
    mask = rho < outline
    inside = np.clip(blur((rho + ragged < outline).astype(np.float32), max(0.4, edge)), 0, 1)

    # Echo levels as radiologists grade them: against fat. Hypoechoic = darker than fat; an
    # isoechoic mass is as bright as fat (plain to see in the gland, lost in the fat).
    fat = FAT["echo"]
    g = t.gland_level
    kind = d["echo"]
    if kind == "anechoic":
        m_echo, m_dens = 0.02 * fat, 0.05
    elif kind == "isoechoic":
        m_echo, m_dens = rng.uniform(0.8, 1.5) * fat, 0.9
    else:
        m_echo, m_dens = rng.uniform(0.12, 0.6) * fat, 0.7
    m_echo = m_echo * np.ones((h, w), np.float32)
    if kind == "heterogeneous":
        m_echo *= np.exp(0.9 * smooth_noise(rng, (h, w), (0.6 / p, 0.6 / p)))
    elif kind == "complex":  # fluid with a solid nodule on its wall
        ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.55)
        nod = np.hypot((xx - cx) / a - 0.6 * np.cos(ang), (yy - cz) / b - 0.6 * np.sin(ang)) < r
        nod = nod & (smooth_noise(rng, (h, w), (0.4 / p, 0.4 / p)) > -1.2)  # with a ragged edge
        m_echo = np.where(nod, rng.uniform(0.6, 1.6) * fat, 0.02 * fat).astype(np.float32)
    else:
        m_echo *= np.exp(0.25 * smooth_noise(rng, (h, w), (0.5 / p, 0.5 / p)))
    if d["calcifications"]:  # bright specks, one pixel each
        ys, xs = np.nonzero(mask)
        for i in rng.choice(len(ys), min(len(ys), int(rng.integers(3, 14))), replace=False):
            m_echo[ys[i], xs[i]] = 15 * g

    # Posterior features come from the attenuation inside the mass (bmode sums it per beam):
    # chosen here as the change in decibels it makes below a mass of this height.
    height_mm = 2 * b * p
    per_db = 1 / (20 * np.log10(np.e) * 2 * height_mm)  # Np/mm for 1 dB over the round trip
    post, base = d["posterior"], GLAND["atten"]
    change = {"enhancement": -rng.uniform(3, 9), "none": rng.uniform(-1.5, 1.5),
              "shadowing": rng.uniform(8, 22)}.get(post, 0.0)
    att_in = max(0.0, base + change * per_db)
    att_map = np.full((h, w), att_in, np.float32)
    if post == "combined":  # one side shadows, the other enhances
        side = xx < cx + rng.normal(0, a / 3)
        att_map = np.where(side, base + rng.uniform(8, 18) * per_db, max(0.0, base - 5 * per_db))
        att_map = att_map.astype(np.float32)

    if d["halo"]:  # thick echogenic rim, the tumour infiltrating the fat around it
        ring = np.clip(blur(((rho < outline * rng.uniform(1.15, 1.4)) & ~mask).astype(np.float32), 1.0 / p), 0, 1)
        t.echo *= 1 + rng.uniform(0.8, 2.0) * ring
    if d["margin"] == "circumscribed" and kind != "anechoic" and rng.random() < 0.4:  # a thin capsule
        t.echo += 0.8 * g * np.exp(-((rho - outline) * min(a, b) / max(0.6, 0.2 / p)) ** 2)
    if d["margin"] == "circumscribed" and d["shape"] in ("oval", "round") and rng.random() < 0.35:
        # Refraction at a smooth curved edge: thin shadows below both sides of the mass.
        cols = np.abs(np.abs(xx - cx) - a) < max(1.0, 0.3 / p)
        below = (yy > cz) & (yy < cz + b)
        t.atten += rng.uniform(4, 10) / (20 * np.log10(np.e) * 2 * b * p) * (cols & below).astype(np.float32)

    t.echo = t.echo * (1 - inside) + m_echo * inside
    t.density = t.density * (1 - inside) + m_dens * inside
    t.atten = t.atten * (1 - inside) + att_map * inside
    return mask
