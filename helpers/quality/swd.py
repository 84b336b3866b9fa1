"""Simple, stated pixel-level quality measures the generator notebooks use before notebook
07's feature-based ones: the sliced Wasserstein distance (SWD) between two image sets, and a
distance between per-image statistics (brightness, contrast, fine texture) that works with
few images.

SWD: Each image is average-pooled to at most `size` px and flattened into a point in
pixel space (values in [-1, 1]; uint8 input is rescaled). Both sets are projected onto many
random unit directions; on each line the Wasserstein-1 distance is the mean gap between
matching quantiles, and the SWD is its average over directions. 0 means the same distribution
as far as these projections see; it measures pixel statistics (brightness, layout, texture),
not semantics, so read it against the real-vs-real value (`real_baseline`) for the same
numbers of images.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def pixel_vectors(images, size: int = 32) -> torch.Tensor:
    """(N, H, W), (N, H, W, 3) uint8 or (N, C, H, W) float in [-1, 1] -> (N, d) float64 in [-1, 1]."""
    x = images.detach().cpu() if torch.is_tensor(images) else torch.as_tensor(np.asarray(images))
    if x.dtype == torch.uint8 and x.ndim == 4 and x.shape[-1] == 3:  # RGB arrays are kept channels-last
        x = x.permute(0, 3, 1, 2)
    x = x.float()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or len(x) < 2:
        raise ValueError(f"Expected at least 2 images (N, H, W) or (N, H, W, 3); got shape {tuple(x.shape)}.")
    if x.max() > 1.5:  # uint8 range
        x = x / 127.5 - 1
    if x.shape[-1] > size:
        x = F.adaptive_avg_pool2d(x, size)
    return x.flatten(1).double()


def sliced_wasserstein(a, b, n_proj: int = 256, seed: int = 0, size: int = 32) -> float:
    """SWD between image sets `a` and `b` (any sizes N, same image size)."""
    xa, xb = pixel_vectors(a, size), pixel_vectors(b, size)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"image sets differ in size: {xa.shape[1]} vs {xb.shape[1]} pixels")
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(xa.shape[1], n_proj, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    q = torch.linspace(0, 1, max(len(xa), len(xb)), dtype=torch.float64)
    qa, qb = torch.quantile(xa @ dirs, q, dim=0), torch.quantile(xb @ dirs, q, dim=0)
    return float((qa - qb).abs().mean())


def real_baseline(real, n: int | None = None, repeats: int = 3, seed: int = 0, **kw) -> float:
    """SWD between two disjoint random halves of the real images (or n images each, at most
    half each), averaged over `repeats` draws: the floor a perfect generator would reach with
    sets of this size."""
    real = np.asarray(real)
    rng = np.random.default_rng(seed)
    h = len(real) // 2 if n is None else min(n, len(real) // 2)
    out = []
    for r in range(repeats):
        idx = rng.permutation(len(real))
        other = idx[h:] if n is None else idx[h:2 * h]
        out.append(sliced_wasserstein(real[idx[:h]], real[other], seed=seed + r, **kw))
    return float(np.mean(out))


def image_stats(images) -> np.ndarray:
    """Per image: mean, standard deviation, mean |horizontal step|, mean |vertical step|
    (the last two measure fine texture and noise), in [-1, 1] units."""
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    x = x.astype(np.float32)
    if x.max() > 1.5:
        x = x / 127.5 - 1
    x = x.reshape(len(x), x.shape[-2], x.shape[-1])
    return np.stack([x.mean((1, 2)), x.std((1, 2)), np.abs(np.diff(x, axis=2)).mean((1, 2)),
                     np.abs(np.diff(x, axis=1)).mean((1, 2))], 1)


def stats_distance(generated, real) -> float:
    """How far the generated images' statistics (`image_stats`) lie from the real ones: the
    mean over the four statistics of |mean_gen - mean_real| / sd_real. 0 is ideal; a value of
    1 means one real standard deviation off on average. Meaningful from a handful of images."""
    g, r = image_stats(generated), image_stats(real)
    return float((np.abs(g.mean(0) - r.mean(0)) / (r.std(0) + 1e-8)).mean())


def score_classes(synthetic: dict, real: dict, **kw) -> dict:
    """{class: SWD(synthetic, real)} plus 'mean' over classes (notebook 05's sweep)."""
    out = {c: sliced_wasserstein(synthetic[c], real[c], **kw) for c in synthetic if c in real}
    out["mean"] = float(np.mean(list(out.values())))
    return out
