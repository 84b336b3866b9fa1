"""A simple, stated distance between synthetic and real images for the GAN notebooks: the
sliced Wasserstein distance (SWD) on downsampled pixels (`helpers.quality.swd`, where the
measure is explained), read against the distance between two halves of the real set.
"""

from __future__ import annotations

import numpy as np

from helpers.quality.swd import real_baseline, sliced_wasserstein  # noqa: F401  (notebook 05 reads them here)


def score_classes(synthetic: dict, real: dict, **kw) -> dict:
    """{class: SWD(synthetic, real)} plus 'mean' over classes."""
    out = {c: sliced_wasserstein(synthetic[c], real[c], **kw) for c in synthetic if c in real}
    out["mean"] = float(np.mean(list(out.values())))
    return out
