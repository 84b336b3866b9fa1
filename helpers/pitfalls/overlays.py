"""Scanner overlays (annotation text, caliper marks, depth ticks): find them, paint them out.

Overlays are drawn by the scanner on top of the image: thin strokes, much brighter than the
tissue right around them. A white top-hat finds such strokes,

    tophat(x) = x - opening(x),   opening = erosion then dilation with a k x k square,

which is large only on bright structures narrower than k (k = 3 px at 256 px, scaled with the
image). An overlay pixel is bright (>= `bright`) AND its top-hat exceeds `contrast`; the mask
is dilated a pixel or two for anti-aliased edges. Masked pixels are filled by normalised
convolution, fill = B_w * (x (1 - m)) / B_w * (1 - m): the mean of the unmasked neighbours in
a w x w window (w about 1/48 of the image). On the phantom this finds about 99% of the overlay
pixels, and about 3 in 4 masked pixels are overlay (the rest: bright speckle beside a stroke).
On BUSI it finds text and bright marks; faint grey calipers are mostly missed. A heuristic,
then: look at the figures before trusting a number built on it.

Does a classifier look at them? Grad-CAM (Selvaraju et al., ICCV 2017, written out here: no
Grad-CAM package comes with the course): for a class score y_c and the feature maps A_k of
the last convolutional stage,

    alpha_k = mean over (i, j) of d y_c / d A_k[i, j],     L_c = ReLU( sum_k alpha_k A_k ),

upsampled to the image and scaled to [0, 1]; `overlay_share` measures how much of the map's
mass falls on overlay pixels, to compare with the share of the image they cover.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy import ndimage as ndi
from torch import nn
from tqdm.auto import tqdm

from helpers.data.images import load_gray
from helpers.data.preprocess import imagenet_normalize
from helpers.parallel import ordered_map

BRIGHT, CONTRAST = 150, 100


def overlay_mask(img: np.ndarray, bright: int = BRIGHT, contrast: int = CONTRAST) -> np.ndarray:
    """Boolean (H, W) mask of overlay pixels of a uint8 grayscale image (see module doc)."""
    s = min(img.shape)
    k = max(3, int(round(s / 85)) | 1)
    f = img.astype(np.float32)
    tophat = f - ndi.grey_opening(f, size=(k, k))
    m = (f >= bright) & (tophat >= contrast)
    return ndi.binary_dilation(m, iterations=max(1, s // 128)) if m.any() else m


def inpaint(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with masked pixels replaced by the mean of their unmasked neighbours in a
    square window (normalised convolution with a box filter, which costs the same for any
    window), widened where a window holds no unmasked pixel."""
    if not mask.any():
        return img.copy()
    f = img.astype(np.float32)
    keep = (~mask).astype(np.float32)
    out = f.copy()
    todo = mask.copy()
    width = max(3, int(round(min(img.shape) / 48)) | 1)
    while todo.any() and width < 4 * max(img.shape):
        num, den = ndi.uniform_filter(f * keep, width), ndi.uniform_filter(keep, width)
        ok = todo & (den > 0.05)
        out[ok] = num[ok] / den[ok]
        todo &= ~ok
        width = 2 * width + 1
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def masked(img: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray]:
    """(image with overlays painted out, overlay mask)."""
    m = overlay_mask(img, **kw)
    return inpaint(img, m), m


def masked_dataset(records: pd.DataFrame, out_dir, progress: bool = True, **kw) -> pd.DataFrame:
    """Write every record's image with its overlays painted out, at its stored resolution (so
    that resizing, thumbnails and near-duplicate tests treat it exactly like the original), to
    `out_dir/<class>/<i>_<name>.png`; returns the records pointing at them, with `image` (the
    original path) and `overlay_share` (masked fraction of the image). Reuses a finished set."""
    out_dir = Path(out_dir)
    key = hashlib.sha1(json.dumps([list(map(str, records["path"])), kw], sort_keys=True).encode()).hexdigest()
    done = out_dir / "masked.csv"
    if done.exists() and (out_dir / "key.txt").exists() and (out_dir / "key.txt").read_text() == key:
        table = pd.read_csv(done)
        if len(table) == len(records) and all(Path(p).exists() for p in table["path"]):
            return records.assign(image=records["path"].astype(str), path=table["path"].to_numpy(),
                                  overlay_share=table["overlay_share"].to_numpy())
    jobs = [(r.path, str(out_dir / str(r.class_name) / f"{i:05d}_{Path(r.path).stem}.png"), kw)
            for i, r in enumerate(records.itertuples())]
    # one spawned process per core (helpers.parallel): per-image NumPy work, the same files as one process
    written = list(tqdm(ordered_map(_mask_one, jobs), total=len(jobs), desc="masking overlays", unit="img",
                        disable=not progress))
    paths, shares = [p for p, _ in written], [share for _, share in written]
    pd.DataFrame(dict(path=paths, overlay_share=shares)).to_csv(done, index=False)
    (out_dir / "key.txt").write_text(key)
    return records.assign(image=records["path"].astype(str), path=paths, overlay_share=shares)


def overlay_shares(paths, progress: bool = True) -> list[float]:
    """The share of each image's pixels that `overlay_mask` marks, at its stored resolution (one
    spawned process per core, as masked_dataset)."""
    paths = [str(p) for p in paths]
    return list(tqdm(ordered_map(_share_one, paths), total=len(paths), desc="finding overlays", unit="img",
                     disable=not progress))


def _share_one(path: str) -> float:
    return float(overlay_mask(load_gray(path)).mean())


def _mask_one(job) -> tuple[str, float]:
    """One image of masked_dataset: (where it was written, masked fraction)."""
    src, dest, kw = job
    img, m = masked(load_gray(src), **kw)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(dest, compress_level=1)  # fast; read back exactly
    return str(Path(dest).resolve()), float(m.mean())


def masks_at(records: pd.DataFrame, size: int, **kw) -> np.ndarray:
    """Overlay masks of the records' images at the classifier's size (N, size, size) bool: a
    pixel is overlay when any stored pixel it covers is."""
    out = np.zeros((len(records), size, size), dtype=bool)
    for i, p in enumerate(records["path"]):
        m = overlay_mask(load_gray(p), **kw)
        out[i] = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.BOX)) > 0
    return out


def target_layer(model: nn.Module, size: int = 64) -> nn.Module:
    """The module whose output is the last feature map with more than 1 x 1 pixels (the last
    convolutional stage for ResNets, the last conv + ReLU for the BUSI study's CNN)."""
    order = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append((mod, o)))
             for m in model.modules() if m is not model]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        model.train(was)
    finally:
        for h in hooks:
            h.remove()
    maps = [m for m, o in order if isinstance(o, torch.Tensor) and o.dim() == 4 and min(o.shape[-2:]) > 1]
    if not maps:
        raise ValueError("The model has no spatial feature map to explain.")
    return maps[-1]


def cam_from(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Grad-CAM maps (N, h, w) in [0, 1] from feature maps and their gradients (N, K, h, w)."""
    a, g = np.asarray(activations, dtype=np.float64), np.asarray(gradients, dtype=np.float64)
    alpha = g.mean(axis=(2, 3))
    cam = np.maximum((alpha[:, :, None, None] * a).sum(1), 0)
    peak = cam.reshape(len(cam), -1).max(1)[:, None, None]
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0.0)


def gradcam(model: nn.Module, images: np.ndarray, target=None, layer: nn.Module | None = None,
            batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, H, W) in [0, 1] at the image size, predicted classes) for uint8 images
    (N, H, W). target: class per image (default: the predicted one)."""
    model = model.eval()
    layer = layer or target_layer(model, images.shape[-1])
    store = {}

    def keep(mod, i, o):
        store["a"] = o
        o.register_hook(lambda g: store.__setitem__("g", g))

    h = layer.register_forward_hook(keep)
    maps, preds = [], []
    try:
        for s in range(0, len(images), batch):
            x = torch.from_numpy(imagenet_normalize(images[s:s + batch])).requires_grad_(True)
            out = model(x)
            pred = out.argmax(1)
            t = pred if target is None else torch.as_tensor(np.asarray(target)[s:s + batch])
            model.zero_grad()
            out.gather(1, t[:, None]).sum().backward()
            cam = cam_from(store["a"].detach().numpy(), store["g"].detach().numpy())
            up = nn.functional.interpolate(torch.from_numpy(cam)[:, None].float(), size=images.shape[-2:],
                                           mode="bilinear", align_corners=False)[:, 0].numpy()
            maps.append(np.clip(up, 0, 1))
            preds.append(pred.numpy())
    finally:
        h.remove()
    return np.concatenate(maps), np.concatenate(preds)


def overlay_share(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (share of the Grad-CAM mass on overlay pixels, share of the image they cover).
    A classifier that ignores overlays puts on them about the share they cover, or less."""
    mass = maps.reshape(len(maps), -1)
    m = masks.reshape(len(masks), -1).astype(np.float64)
    total = mass.sum(1)
    on = np.where(total > 0, (mass * m).sum(1) / np.where(total > 0, total, 1), 0.0)
    return on, m.mean(1)
