"""A simple, stated distance between synthetic and real images: the sliced Wasserstein
distance (SWD) on downsampled pixels.

Each image is average-pooled to `size` px and flattened into a vector in [0, 1]. For many
random unit directions, both image sets are projected onto the direction and the two 1-D
distributions are compared with the Wasserstein-1 distance (mean absolute difference of
their quantiles). SWD is the mean over directions: 0 for identical distributions, larger
when brightness, layout or texture differ. It sees pixels, not semantics, so it is a coarse
check, not FID; its scale is read against the distance between two halves of the real set.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _vectors(images: np.ndarray, size: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim != 3 or len(x) < 2:
        raise ValueError(f"Expected at least 2 grayscale images (N, H, W); got shape {tuple(x.shape)}.")
    if x.max() > 1.5:  # uint8 range
        x = x / 255.0
    x = x[:, None]
    if x.shape[-1] != size:
        x = F.adaptive_avg_pool2d(x, size)
    return x.flatten(1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_proj: int = 256, size: int = 32, seed: int = 0,
                       n_quantiles: int = 100) -> float:
    """SWD between image sets `a` and `b` (uint8 or [0, 1] arrays (N, H, W), any N)."""
    va, vb = _vectors(a, size), _vectors(b, size)
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(va.shape[1], n_proj, generator=g)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    q = torch.linspace(0, 1, n_quantiles)
    pa, pb = torch.quantile(va @ dirs, q, dim=0), torch.quantile(vb @ dirs, q, dim=0)
    return float((pa - pb).abs().mean())


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
