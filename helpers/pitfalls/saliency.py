"""Grad-CAM: where in the image the classifier's decision comes from.

For a class c with score y_c and the feature maps A_k (k = 1..K, h x w) of the last
convolutional stage,

    alpha_k = mean over (i, j) of d y_c / d A_k[i, j],     L_c = ReLU( sum_k alpha_k A_k ),

upsampled to the image and scaled to [0, 1] (Selvaraju et al., ICCV 2017). Written out here
(no Grad-CAM package is installed with the course); `overlay_share` then measures how much of
the map's mass falls on overlay pixels, to compare with the share of the image they cover.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers.data.preprocess import imagenet_normalize


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
