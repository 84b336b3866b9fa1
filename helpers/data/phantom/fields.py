"""Small random-field tools the anatomy and the lesions share."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import fft


def smooth_noise(rng, shape, sigma) -> np.ndarray:
    """White noise blurred by a Gaussian of `sigma` = (rows, cols) pixels, scaled to std 1.
    Filtering in the Fourier domain costs the same for any sigma (a direct blur would not), and
    a very smooth field is made on a coarser grid and enlarged, which changes nothing visible."""
    sy, sx = sigma
    f = max(1, int(min(sy if shape[0] > 1 else sx, sx) // 3))
    h = fft.next_fast_len(-(-shape[0] // f) + (f > 1), real=True)
    w = fft.next_fast_len(-(-shape[1] // f) + (f > 1), real=True)
    ky = fft.fftfreq(h)[:, None]
    kx = fft.rfftfreq(w)[None, :]
    gain = np.exp(-2 * np.pi ** 2 * ((ky * sy / f) ** 2 + (kx * sx / f) ** 2))
    out = fft.irfft2(fft.rfft2(rng.standard_normal((h, w), dtype=np.float32)) * gain, s=(h, w))
    if f > 1:
        big = Image.fromarray(out.astype(np.float32), mode="F").resize((w * f, h * f), Image.Resampling.BILINEAR)
        out = np.asarray(big)
    out = out[: shape[0], : shape[1]]  # a crop of periodic noise is still smooth noise
    out = out - out.mean()
    return out / (out.std() + 1e-12)


def wobble(rng, n: int, scale_px: float) -> np.ndarray:
    """A smooth random curve of n points (std 1): the lateral wander of a tissue boundary."""
    return smooth_noise(rng, (1, n), (0, scale_px))[0]


def blur(a: np.ndarray, sigma) -> np.ndarray:
    """Gaussian blur, done in the Fourier domain (periodic edges; fine for soft masks)."""
    h, w = a.shape
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    ky = fft.fftfreq(h)[:, None]
    kx = fft.rfftfreq(w)[None, :]
    gain = np.exp(-2 * np.pi ** 2 * ((ky * sy) ** 2 + (kx * sx) ** 2))
    return fft.irfft2(fft.rfft2(a) * gain, s=(h, w))


def pick(rng, table: dict) -> str:
    """One key of {name: probability}, drawn by its probability."""
    names = list(table)
    p = np.array([table[k] for k in names], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]
