"""Preprocessing: grayscale, resize, value ranges, and a cache of preprocessed arrays.

- generators work in [-1, 1]: `x / 127.5 - 1` (the WGAN study), matching a tanh output;
- pretrained classifiers expect ImageNet statistics on 3 channels.
Arrays are cached per (source, size) under the runs folder, keyed by the list of files and
their modification times, so a changed dataset is never served from a stale cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_generator_range(x: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return x.astype(np.float32) / 127.5 - 1.0


def from_generator_range(x) -> np.ndarray:
    """float [-1, 1] (numpy or torch) -> uint8 [0, 255]."""
    x = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def imagenet_normalize(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) grayscale -> float32 (N, 3, H, W) with ImageNet mean/std: the gray
    value is copied into the three channels a pretrained backbone expects."""
    x = x.astype(np.float32)[:, None] / 255.0
    mean = np.asarray(IMAGENET_MEAN, np.float32)[None, :, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[None, :, None, None]
    return (np.repeat(x, 3, axis=1) - mean) / std


def _cache_key(paths: list[str], size: int, resample: str, tag: str = "") -> str:
    h = hashlib.sha1(f"{size}|{resample}{'|' + tag if tag else ''}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_images(records: pd.DataFrame, size: int, cache_dir: str | Path | None = None,
                progress: bool = True, resample: str = "lanczos") -> np.ndarray:
    """uint8 array (N, size, size) of the records' images, in record order, cached."""
    from helpers.data.registry import image_reader

    paths = [str(p) for p in records["path"]]
    source = str(records["source"].iloc[0]) if len(records) else "none"
    # A source may need its own reader (mammograms: breast crop and alignment). Applying it
    # here, not in a copy of the data folder, keeps one cache per (source, size) and leaves
    # the user's folder read-only; the reader's tag in the key drops stale caches.
    read = image_reader(source)
    cache = None
    if cache_dir is not None:
        key = _cache_key(paths, size, resample, getattr(read, "cache_tag", ""))
        cache = Path(cache_dir) / f"{source}-{size}px-{resample}-{key}.npy"
        if cache.exists():
            return np.load(cache)
    arr = np.stack([read(p, size, resample) for p in tqdm(paths, desc=f"resizing to {size}px", unit="img",
                                                 disable=not progress, leave=False)])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.stem + ".part.npy")
        np.save(tmp, arr)
        tmp.replace(cache)
    return arr
