"""A simple, stated distance between synthetic and real images for the GAN notebooks: the
sliced Wasserstein distance (SWD) on downsampled pixels (`helpers.quality.swd`, where the
measure is explained), read against the distance between two halves of the real set.
"""

from __future__ import annotations

import numpy as np

from helpers.quality.swd import sliced_wasserstein  # noqa: F401  (shared with the DDPM notebook)


def real_baseline(real: np.ndarray, repeats: int = 3, seed: int = 0, **kw) -> float:
    """SWD between two random halves of the real images: the floor a perfect generator with
    a set of this size would reach."""
    rng = np.random.default_rng(seed)
    out = []
    for r in range(repeats):
        idx = rng.permutation(len(real))
        h = len(real) // 2
        out.append(sliced_wasserstein(real[idx[:h]], real[idx[h:]], seed=seed + r, **kw))
    return float(np.mean(out))


def score_classes(synthetic: dict, real: dict, **kw) -> dict:
    """{class: SWD(synthetic, real)} plus 'mean' over classes."""
    out = {c: sliced_wasserstein(synthetic[c], real[c], **kw) for c in synthetic if c in real}
    out["mean"] = float(np.mean(list(out.values())))
    return out
