"""The breast as the probe sees it: maps of how strongly each point scatters sound.

Three maps on the simulation grid (rows = depth, columns = lateral position, square pixels of
`pitch` mm):

- `echo`: mean backscattered power (relative). Bright tissue scatters strongly;
- `density`: how many scatterers a pixel holds (0..1). Dense tissue gives fully developed
  speckle; sparse scatterers (fat, fluid) give darker, spottier speckle;
- `atten`: attenuation of sound (nepers per mm, one way). Summed along each beam it makes the
  shadows and the enhancements below structures (bmode.py).

From the skin down: skin, subcutaneous fat in lobules with Cooper's ligaments, fibroglandular
tissue with fat islands and ducts, retromammary fat, the pectoral fascia and muscle, and at
depth sometimes a rib. Thicknesses, tilt and texture change from woman to woman, so no two
scans share a layout. Some structures look like lesions on purpose — a large fat lobule, a rib,
a ligament's thin shadow — because real normal scans have them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy.special import expit

from .fields import blur, smooth_noise, wobble

# How often each lesion look-alike appears, in every class (anatomy does not know the label).
LIGAMENT_SHADOW = 0.3  # a thin dark streak below a Cooper's ligament
FAT_LOBULE = 0.15  # a large fat lobule: a dark oval in the gland (0.3 made normal scans too
# often look like benign ones: the quick classifier recognised 57 % of normal test images, BUSI 83 %)
RIB = 0.15  # a rib below the muscle, where the scan is deep enough

# Typical values (echo power relative to fibroglandular tissue ~0.6; attenuation in Np/mm at
# the probe's frequency, about 0.7 dB/cm/MHz at 10 MHz for the soft tissue of the breast).
FAT = dict(echo=0.06, density=0.35, atten=0.055)
GLAND = dict(echo=0.60, density=0.95, atten=0.085)
MUSCLE = dict(echo=0.16, density=0.8, atten=0.095)


@dataclass
class Tissue:
    echo: np.ndarray
    density: np.ndarray
    atten: np.ndarray
    pitch: float  # mm per pixel (square pixels)
    gland_top: np.ndarray  # depth (px) where the fibroglandular layer starts, per column
    gland_bottom: np.ndarray  # ... and where it ends
    gland_level: float  # the gland's mean echo: lesions are darker or brighter relative to it
    notes: dict = field(default_factory=dict)  # which optional structures this breast has


def _draw(shape, strokes, width=1) -> np.ndarray:
    """Rasterise polylines [(x0, y0), (x1, y1), ...] into a float map in [0, 1] (PIL is fast)."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    d = ImageDraw.Draw(img)
    for line in strokes:
        d.line(line, fill=255, width=width)
    return np.asarray(img, np.float32) / 255


def breast(rng, h: int, w: int, depth_mm: float) -> Tissue:
    """Random breast anatomy on an h x w grid covering depth_mm of depth."""
    p = depth_mm / h
    z = (np.arange(h)[:, None] + 0.5) * p  # depth of each row, mm
    xs = (np.arange(w) - w / 2) * p  # lateral position of each column, mm

    def boundary(mean_mm, wander_mm):
        tilt = rng.normal(0, 0.08)  # the probe is rarely parallel to the layers
        wander = wobble(rng, w, rng.uniform(8, 20) / p) + 0.5 * wobble(rng, w, rng.uniform(2, 5) / p)
        return mean_mm + tilt * xs + wander_mm * wander / 1.1

    gel = rng.uniform(0.3, 1.2) if rng.random() < 0.3 else 0.0  # a gel gap above the skin
    skin_end = gel + rng.uniform(1.3, 2.4)
    dense = rng.beta(2, 2)  # 0 = fatty breast, 1 = dense breast
    fat_end = boundary(skin_end + rng.uniform(1.5, 9) * (1.2 - 0.6 * dense), rng.uniform(0.5, 2.0))
    gland_end = fat_end + np.maximum(boundary(rng.uniform(4, 22) * (0.6 + 0.8 * dense), rng.uniform(1, 4)), 2)
    # The pectoral fascia is smooth and nearly flat, whatever the gland above it does.
    retro_end = np.maximum(gland_end + 0.8, boundary(float(np.median(gland_end)) + rng.uniform(1, 4),
                                                     rng.uniform(0.2, 0.8)))
    muscle_end = retro_end + rng.uniform(4, 10)

    echo = np.empty((h, w), np.float32)
    dens = np.empty((h, w), np.float32)
    att = np.empty((h, w), np.float32)

    # Fat lobules: where a smooth random field crosses a level, a thin bright septum.
    lob = smooth_noise(rng, (h, w), (rng.uniform(1.0, 2.0) / p, rng.uniform(2.0, 4.0) / p))
    septa = np.exp(-((lob - 0.3) / 0.12) ** 2)
    fat_echo = FAT["echo"] * np.exp(0.3 * smooth_noise(rng, (h, w), (1 / p, 2 / p))) + 0.35 * septa
    # Fibroglandular texture: mottled, stretched along the skin; islands of fat inside it.
    g_level = GLAND["echo"] * rng.uniform(0.6, 1.4)
    mottle = smooth_noise(rng, (h, w), (rng.uniform(0.25, 0.6) / p, rng.uniform(0.8, 2.0) / p))
    gland_echo = g_level * np.exp(rng.uniform(0.35, 0.7) * mottle)
    islands = smooth_noise(rng, (h, w), (rng.uniform(1.0, 2.2) / p, rng.uniform(2.0, 4.5) / p))
    # Stroma: thin bright strands running along the skin (the gland's fibrous tissue).
    strands = smooth_noise(rng, (h, w), (0.12 / p, rng.uniform(2.0, 5.0) / p))
    gland_echo = gland_echo * (1 + rng.uniform(2.0, 4.0) * np.clip(strands - 1.0, 0, None))
    level = rng.uniform(0.5, 1.3) - 0.5 * dense
    island = expit((islands - level) / 0.2)
    gland_echo = gland_echo * (1 - island) + fat_echo * island
    # Bright curved septa: around the fat islands and through the gland (fibrous planes).
    planes = smooth_noise(rng, (h, w), (rng.uniform(0.6, 1.2) / p, rng.uniform(2.5, 5.0) / p))
    gland_echo = gland_echo + g_level * (rng.uniform(0.6, 1.4) * np.exp(-((islands - level) / 0.1) ** 2)
                                         + rng.uniform(0.5, 1.2) * np.exp(-(planes / 0.08) ** 2))
    # Muscle: fibres as thin bright striations, slightly oblique.
    ang = rng.normal(0, 0.12)
    fibre = (z * np.cos(ang) + xs[None] * np.sin(ang)) / rng.uniform(0.8, 1.6)
    fibre = fibre + 0.4 * smooth_noise(rng, (h, w), (1 / p, 4 / p))
    patchy = np.clip(0.6 + 0.5 * smooth_noise(rng, (h, w), (2 / p, 3 / p)), 0, 1)  # fibres come and go
    muscle_echo = MUSCLE["echo"] * (1 + 2.5 * patchy * (0.5 + 0.5 * np.sin(2 * np.pi * fibre)) ** 8)

    # The fat/gland interface interdigitates: its depth wanders by about a millimetre.
    fat_end_2d = fat_end[None] + rng.uniform(0.4, 1.2) * smooth_noise(rng, (h, w), (1 / p, 2 / p))
    layers = [(z < gel, dict(echo=0.002, density=0.02, atten=0.0002), None),
              (z < skin_end, dict(echo=0.5, density=0.9, atten=0.08), None),
              (z < fat_end_2d, FAT, fat_echo),
              (z < gland_end[None], GLAND, gland_echo),
              (z < retro_end[None], FAT, fat_echo),
              (z < muscle_end[None], MUSCLE, muscle_echo),
              (np.ones((h, w), bool), dict(echo=0.03, density=0.5, atten=0.1), None)]
    done = np.zeros((h, w), bool)
    for where, tissue, emap in layers:
        sel = np.broadcast_to(where, (h, w)) & ~done
        echo[sel] = tissue["echo"] if emap is None else emap[sel]
        dens[sel] = tissue["density"]
        att[sel] = tissue["atten"]
        done |= sel
    echo = np.maximum(blur(echo, 0.25 / p), 1e-4)  # tissue boundaries are not knife-sharp
    att *= rng.uniform(0.85, 1.2)  # women differ in how much their tissue attenuates

    # Specular lines: the skin's surfaces and the pectoral fascia.
    rows = np.arange(h)[:, None]
    for depth, strength in [(gel, 1.5), (skin_end, 1.0), (retro_end, rng.uniform(0.8, 2.0))]:
        d_px = np.broadcast_to(np.asarray(depth) / p, (w,))
        echo += strength * np.exp(-((rows - d_px[None]) / max(0.6, 0.15 / p)) ** 2)

    # Cooper's ligaments: thin bright arcs running obliquely from the skin down to the gland.
    # Some cast a thin shadow (sound bends at their edge): a dark streak in any class.
    strokes = []
    for _ in range(rng.integers(1, 5)):
        x0 = rng.uniform(0, w)
        span = rng.choice([-1, 1]) * rng.uniform(4, 15) / p
        col = int(np.clip(x0 + span, 0, w - 1))
        top, bottom = skin_end / p, fat_end[col] / p + rng.uniform(0, 3) / p
        sag = rng.uniform(-0.3, 0.3) * abs(span)
        t = np.linspace(0, 1, 12)
        strokes.append(list(zip(x0 + span * t, top + (bottom - top) * t + sag * t * (1 - t))))
    lig = blur(_draw((h, w), strokes, width=max(1, round(0.25 / p))), 0.6)
    echo += rng.uniform(0.2, 0.6) * lig
    notes = {}
    if rng.random() < LIGAMENT_SHADOW:
        att += lig * rng.uniform(0.1, 0.3)
        notes["ligament_shadow"] = True

    # A large fat lobule: a dark oval in the gland, the classic mimic of a benign mass.
    if rng.random() < FAT_LOBULE:
        cx, cz = rng.uniform(0.2, 0.8) * w, (fat_end[w // 2] / p + gland_end[w // 2] / p) / 2
        a, b = rng.uniform(3, 7) / p, rng.uniform(1.5, 3.5) / p
        yy, xx = np.ogrid[:h, :w]
        inside = expit(-8 * (np.hypot((xx - cx) / a, (yy - cz) / b) - 1))
        echo = echo * (1 - inside) + fat_echo * 0.8 * inside
        dens = dens * (1 - inside) + FAT["density"] * inside
        notes["fat_lobule"] = True

    # A rib below the muscle: a hypoechoic oval with a bright front surface and a shadow.
    rib_top = float(np.median(muscle_end)) + rng.uniform(0.5, 3)
    if rib_top < depth_mm - 3 and rng.random() < RIB:
        cx, a, b = rng.uniform(0.2, 0.8) * w, rng.uniform(5, 9) / p, rng.uniform(2.5, 4.5) / p
        cz = rib_top / p + b
        yy, xx = np.ogrid[:h, :w]
        r = np.hypot((xx - cx) / a, (yy - cz) / b)
        echo = np.where(r < 1, 0.12, echo) + 2.5 * np.exp(-((r - 1) * b / 1.2) ** 2) * (yy < cz)
        att = np.where(r < 1, 0.6, att)  # bone: almost nothing comes back from below
        notes["rib"] = True

    return Tissue(echo=np.maximum(echo, 1e-4), density=np.clip(dens, 0.02, 1), atten=att, pitch=p,
                  gland_top=fat_end / p, gland_bottom=gland_end / p, gland_level=float(g_level), notes=notes)
