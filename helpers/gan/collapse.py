"""Mode collapse, measured and said in words under a grid of samples.

A collapsed generator draws (nearly) the same image whatever the noise: a grid whose columns
all look alike. The measure is the samples' spread: the per-pixel standard deviation over
images of 16x16 average-pooled samples (layout and brightness, not speckle), divided by the
same for the class's real training images. 1 means as varied as the real images; near 0, one
image for every noise vector. Two sets of real images of a class score about 1 (0.9-1.1 on the
phantom), a fully collapsed generator about 0.1.
"""

from __future__ import annotations

import numpy as np

from helpers.gan.label_dependence import pooled

COLLAPSED = 0.35   # below: collapsed (the 05b grids that drew one tile per class scored < 0.2)
PARTIAL = 0.6      # below: much less varied than the real images
NARROW = 0.8       # below: less varied (real halves score 0.9-1.1)


def spread(fake, real) -> float:
    """The samples' spread relative to the real images' (see the module's docstring)."""
    f = pooled(fake).flatten(1).double().numpy()
    r = pooled(real).flatten(1).double().numpy()
    return float(f.std(0).mean() / max(r.std(0).mean(), 1e-12))


def verdict(value: float) -> str:
    if value < COLLAPSED:
        return "collapsed: the samples are nearly one image"
    if value < PARTIAL:
        return "much less varied than the real images (partial collapse)"
    if value < NARROW:
        return "less varied than the real images"
    return "about as varied as the real images" if value < 1.25 else "more varied than the real images"


def report(samples: dict, real: dict, name: str = "the generator") -> str:
    """One line per class: its spread and what it means. `samples` / `real`: {class: images}.
    Use 50 or more samples per class: a spread from 8 images is too noisy to judge."""
    lines = []
    for cls, fake in samples.items():
        if cls in real and len(fake) > 1 and len(real[cls]) > 1:
            s = spread(fake, real[cls])
            lines.append(f"{name}, {cls}: spread {s:.2f} of the real images' ({len(fake)} samples): {verdict(s)}")
    return "\n".join(lines)


def collapsed(samples: dict, real: dict) -> list[str]:
    """The classes whose samples are collapsed."""
    return [c for c, fake in samples.items() if c in real and spread(fake, real[c]) < COLLAPSED]


def real_spread(real_images, seed: int = 0) -> float:
    """The spread of one random half of real images against the other half (about 1): the scale."""
    x = np.asarray(real_images)
    idx = np.random.default_rng(seed).permutation(len(x))
    return spread(x[idx[: len(x) // 2]], x[idx[len(x) // 2:]])
