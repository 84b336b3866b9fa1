"""Simple, stated quality measures for the sampler comparison, on pixels: the sliced
Wasserstein distance (SWD) between generated and real images, and a distance between simple
per-image statistics (brightness, contrast, fine texture) that works with few images.

Each image (downsampled to at most 32 x 32) is a point in pixel space. A random direction
projects both sets onto a line, where the Wasserstein-1 distance is the mean gap between
matching quantiles; the SWD averages that over many directions. 0 means the same
distribution (as far as these projections see); lower is better. It measures pixel
statistics only, not whether images look like ultrasound: notebook 07 adds feature-based
measures (FID/KID). Always compare with the real-vs-real value on the same numbers of images.
"""

from __future__ import annotations

import numpy as np
import torch

from helpers.quality.swd import sliced_wasserstein  # noqa: F401  (shared with the GAN notebooks)


def real_vs_real(images, n: int, seed: int = 0, **kw) -> float:
    """The SWD between two disjoint random subsets of n real images (or half each when fewer):
    what "as good as real data" looks like for this sample size."""
    images = np.asarray(images)
    idx = np.random.default_rng(seed).permutation(len(images))
    n = min(n, len(images) // 2)
    return sliced_wasserstein(images[idx[:n]], images[idx[n:2 * n]], seed=seed, **kw)


def image_stats(images) -> np.ndarray:
    """Per image: mean, standard deviation, mean |horizontal step|, mean |vertical step|
    (the last two measure fine texture and noise), in [-1, 1] units."""
    x = _flat_images(images)
    return np.stack([x.mean((1, 2)), x.std((1, 2)), np.abs(np.diff(x, axis=2)).mean((1, 2)),
                     np.abs(np.diff(x, axis=1)).mean((1, 2))], 1)


def stats_distance(generated, real) -> float:
    """How far the generated images' statistics (`image_stats`) lie from the real ones: the
    mean over the four statistics of |mean_gen - mean_real| / sd_real. 0 is ideal; a value of
    1 means one real standard deviation off on average. Meaningful from a handful of images."""
    g, r = image_stats(generated), image_stats(real)
    return float((np.abs(g.mean(0) - r.mean(0)) / (r.std(0) + 1e-8)).mean())


def _flat_images(images) -> np.ndarray:
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    x = x.astype(np.float32)
    if x.max() > 1.5:
        x = x / 127.5 - 1
    return x.reshape(len(x), x.shape[-2], x.shape[-1])
