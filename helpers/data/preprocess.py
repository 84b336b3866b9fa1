"""Preprocessing: grayscale or RGB, resize, value ranges, and a cache of preprocessed arrays.

- grey sources give uint8 (N, H, W), colour ones (BreakHis, a `folder` of colour images)
  uint8 (N, H, W, 3) (`records_channels`); networks take (N, C, H, W) (`to_nchw`);
- generators work in [-1, 1]: `x / 127.5 - 1` (the WGAN study), matching a tanh output;
- pretrained classifiers expect ImageNet statistics on 3 channels.
Arrays are cached per (source, size) under the runs folder, keyed by the list of files and
their modification times, so a changed dataset is never served from a stale cache.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers.data.registry import channels as source_channels
from helpers.data.registry import image_reader

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_generator_range(x: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return x.astype(np.float32) / 127.5 - 1.0


def from_generator_range(x) -> np.ndarray:
    """float [-1, 1] (numpy or torch) -> uint8 [0, 255]."""
    x = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_nchw(images):
    """uint8 (N, H, W) grey or (N, H, W, 3) RGB (numpy or torch) -> float32 tensor (N, C, H, W)
    in [-1, 1], the form every network of the course takes."""
    import torch

    if not torch.is_tensor(images):
        a = np.ascontiguousarray(images)
        t = torch.from_numpy(a if a.flags.writeable else a.copy())  # torch warns on read-only arrays
    else:
        t = images
    if t.dtype != torch.uint8 or t.ndim not in (3, 4):
        raise ValueError(f"expected uint8 images (N, H, W) or (N, H, W, 3); got {t.dtype} {tuple(t.shape)}")
    if t.ndim == 3:
        t = t[:, None]
    elif t.shape[-1] in (1, 3) and t.shape[1] not in (1, 3):  # channels last, as the arrays are kept
        t = t.permute(0, 3, 1, 2)
    elif t.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels; got shape {tuple(t.shape)}")
    return (t.float() / 127.5 - 1.0).contiguous()


def images_uint8(x) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, 3) for three:
    the form image arrays and synthetic sets are kept in."""
    a = from_generator_range(x)
    return a[:, 0] if a.shape[1] == 1 else np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def to_grey(images: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, 3) RGB -> uint8 (..., H, W) luminance, exactly as PIL's convert("L")
    (ITU-R 601: 0.299 R + 0.587 G + 0.114 B); grey arrays come back unchanged."""
    a = np.asarray(images)
    if a.ndim < 3 or a.shape[-1] != 3:
        return a
    a = a.astype(np.uint32)
    return ((a[..., 0] * 19595 + a[..., 1] * 38470 + a[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def imagenet_normalize(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) grayscale or (N, H, W, 3) RGB -> float32 (N, 3, H, W) with ImageNet
    mean/std per channel: a gray value is copied into the three channels a pretrained backbone
    expects, an RGB image keeps its own."""
    x = x.astype(np.float32) / 255.0
    x = np.repeat(x[:, None], 3, axis=1) if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    mean = np.asarray(IMAGENET_MEAN, np.float32)[None, :, None, None]
    std = np.asarray(IMAGENET_STD, np.float32)[None, :, None, None]
    return (x - mean) / std


def channels_config(channels: int) -> dict:
    """A run config's `channels` entry: only for RGB, so that grey run folders written before
    colour existed (whose configs have no such key) keep resuming."""
    return {} if int(channels) == 1 else {"channels": int(channels)}


def records_channels(records: pd.DataFrame) -> int:
    """The channels the records' images are read with: their source's (1 grey, 3 RGB; for
    `folder`, its folder's). A synthetic set has the channels its generator wrote, so its
    first file is looked at."""
    if len(records) == 0:
        return 1
    source = str(records["source"].iloc[0])
    if source != "synthetic":
        return source_channels(source, records["path"].iloc[0])
    with Image.open(records["path"].iloc[0]) as im:
        return 3 if im.mode in ("RGB", "RGBA") else 1


def _cache_key(paths: list[str], size: int, resample: str, tag: str = "") -> str:
    h = hashlib.sha1(f"{size}|{resample}{'|' + tag if tag else ''}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_images(records: pd.DataFrame, size: int, cache_dir: str | Path | None = None,
                progress: bool = True, resample: str = "lanczos", channels: int | None = None) -> np.ndarray:
    """uint8 array (N, size, size), or (N, size, size, 3) for RGB, of the records' images, in
    record order, cached. `channels`: None for the source's own (`records_channels`), 1 to
    read a colour source grey (near-duplicate thumbnails), 3 to read a grey one as RGB."""
    paths = [str(p) for p in records["path"]]
    source = str(records["source"].iloc[0]) if len(records) else "none"
    channels = records_channels(records) if channels is None else int(channels)
    # A source may need its own reader (mammograms: breast crop and alignment). Applying it
    # here, not in a copy of the data folder, keeps one cache per (source, size) and leaves
    # the user's folder read-only; the reader's tag in the key drops stale caches.
    read = image_reader(source, channels)
    cache = None
    if cache_dir is not None:
        rgb = "-rgb" if channels == 3 else ""  # grey caches keep their names and keys
        key = _cache_key(paths, size, resample, getattr(read, "cache_tag", "") + rgb)
        cache = Path(cache_dir) / f"{source}-{size}px-{resample}{rgb}-{key}.npy"
        if cache.exists():
            return np.load(cache)
    arr = np.stack([read(p, size, resample) for p in tqdm(paths, desc=f"resizing to {size}px", unit="img",
                                                 disable=not progress, leave=False)])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # a temporary file of this process's own: the classifier grid's worker processes may build
        # the same cache at once, and a shared name would be renamed away under the other writer
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part.npy")
        np.save(tmp, arr)
        tmp.replace(cache)  # atomic; both writers hold the same array
    return arr
