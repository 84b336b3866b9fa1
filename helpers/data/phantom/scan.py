"""How each scan was acquired: image size, probe settings, and which images are frames of
the same scan (BUSI's near-duplicates)."""

from __future__ import annotations

import numpy as np

from .bmode import Probe

CLASS_SALT = {"benign": 11, "malignant": 23, "normal": 37}

# Near-duplicates. On BUSI about 40% of the images sit in groups of near-identical frames
# (thumbnail correlation > 0.97), mostly pairs and triples, a few across classes: the same
# lesion saved twice, once labelled benign and once malignant. Here a fraction FRAME_RATE of the
# images is another frame of one of the few images just before it (a sonographer saves
# several frames of one sweep), and a small share of those frames comes from the other lesion
# class, reproducing the label conflicts.
FRAME_RATE = 0.25
CROSS_CLASS = 0.03


def image_size(rng, size: int) -> tuple[int, int]:
    """(width, height) of one scan. `size` is the nominal side: scans are mostly a little wider
    than `size` and less tall, some are narrow crops and some wide panoramas, like BUSI's
    190-1050 px at size 512."""
    u = rng.random()
    if u < 0.72:
        w, aspect = rng.normal(1.05, 0.12), rng.uniform(0.75, 0.95)
    elif u < 0.87:
        w, aspect = rng.uniform(0.37, 0.8), rng.uniform(0.9, 1.45)
    else:
        w, aspect = rng.uniform(1.35, 2.05), rng.uniform(0.55, 0.8)
    width = max(32, int(round(w * size)))
    return width, max(32, int(round(width * aspect)))


def probe(rng, lesion_mm: float | None = None) -> Probe:
    """A linear probe at 7-14 MHz, set up by the operator for this patient. With a mass in view
    the sonographer sets the depth to frame it (so masses fill a good part of the image)."""
    depth, tgc = rng.uniform(28, 48), rng.uniform(0.35, 0.8)
    if lesion_mm is not None:  # ... and adjusts the TGC to see below it
        depth = float(np.clip(lesion_mm * rng.uniform(1.6, 3.0) + rng.uniform(5, 12), 22, 45))
        tgc = rng.uniform(0.55, 0.95)
    # Gain: usually set so that nothing saturates; one scan in four is a little too bright.
    gain = rng.uniform(0, 3) if rng.random() < 0.25 else rng.normal(-8, 2)
    return Probe(depth_mm=depth, focus_mm=depth * rng.uniform(0.3, 0.65), axial_mm=rng.uniform(0.07, 0.12),
                 lateral_mm=rng.uniform(0.18, 0.32), focal_zone_mm=rng.uniform(6, 14),
                 tgc_fraction=tgc, gain_db=gain,
                 dynamic_range_db=rng.uniform(40, 55), noise_db=rng.uniform(-90, -75),
                 gamma=rng.uniform(1.1, 1.7), smoothing=rng.uniform(0.6, 1.2),
                 views=int(rng.integers(2, 5)), shadow_blur_mm=rng.uniform(0.4, 1.2))


def frame_source(kind: str, index: int, seed: int) -> tuple[str, int]:
    """The (class, index) of the image this one is another frame of, or itself."""
    pick = np.random.default_rng([seed, CLASS_SALT[kind], index, 1])
    if index == 0 or pick.random() >= FRAME_RATE:
        return kind, index
    if kind != "normal" and pick.random() < CROSS_CLASS:
        # A conflict: one of the first images of the other lesion class (present in any full set).
        return ("malignant" if kind == "benign" else "benign"), int(pick.integers(0, min(index, 130)))
    return kind, max(0, index - int(pick.integers(1, 4)))


def original(kind: str, index: int, seed: int) -> tuple[str, int]:
    """Follow frames back to the original scan (each step goes to a smaller index, so it ends)."""
    cur = (kind, index)
    while (nxt := frame_source(*cur, seed)) != cur:
        cur = nxt
    return cur
