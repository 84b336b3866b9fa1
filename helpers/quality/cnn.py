"""What the quality extractors share: the small CNN, images as tensors, batched inference.

The domain classifier (helpers.quality.features), the self-supervised encoder
(helpers.quality.ssl) and the train-on-synthetic classifier (helpers.quality.report) are the same
`SmallCNN`, trained differently; Inception-v3 (helpers.quality.features) shares the `Extractor`
interface, `extractor(images uint8) -> float64 (N, dim)`.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.data.preprocess import to_nchw
from helpers.train.loop import Trainer


class SmallCNN(nn.Module):
    """Four conv stages (3x3 conv, batch norm, ReLU, 2x2 max-pool) -> global average pool ->
    `dim` features -> linear class scores. Works at any input size >= 16 px; `channels` 1
    (grey) or 3 (RGB)."""

    def __init__(self, n_classes: int = 3, width: int = 16, dim: int = 64, channels: int = 1):
        super().__init__()
        self.channels = int(channels)
        chans = [self.channels, width, 2 * width, 4 * width, dim]
        layers = []
        for i, o in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers[:-1])  # no pooling after the last stage
        self.head = nn.Linear(dim, n_classes)
        self.dim = dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) -> float32 (N, C, H, W) in [-1, 1] (the generators' range)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"expected uint8 images (N, H, W) or (N, H, W, 3); got {images.dtype} {images.shape}")
    return to_nchw(images)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A batch in channels-last layout, the one the SmallCNN runs in: on a CPU its max-pooling and
    batch norm are several times faster there (a quick training step: 90 ms instead of 140 ms)."""
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def batched(fn, x: torch.Tensor, device: str, batch: int) -> np.ndarray:
    out = [fn(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out).double().numpy() if out else np.zeros((0, 0))


class Extractor:
    """Base: `extractor(images uint8 (N, H, W)) -> float64 (N, dim)`."""

    name = "base"
    dim = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class CNNExtractor(Extractor):
    """A trained (or random) SmallCNN's pooled features; `run_dir` the folder it was trained in,
    `name` what trained it ('domain': the classifier, 'self-supervised': SimCLR)."""

    def __init__(self, model: SmallCNN, device: str = "cpu", run_dir=None, batch: int = 256,
                 name: str = ""):
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        self.device, self.batch, self.dim, self.run_dir = device, batch, model.dim, run_dir
        self.name = name or self.name

    def _input(self, images: np.ndarray) -> torch.Tensor:
        x = to_tensor(images)
        if x.shape[1] != self.model.channels:
            raise ValueError(f"This extractor was built for {self.model.channels}-channel images; got "
                             f"{x.shape[1]} channels. Build it on images like the ones it scores.")
        return x

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.model.eval()
        return batched(lambda x: self.model.features(channels_last(x)), self._input(images), self.device,
                        self.batch)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class predictions of the network's own head (meaningful for the trained extractor)."""
        self.model.eval()
        return batched(lambda x: self.model(channels_last(x)), self._input(images), self.device,
                        self.batch).argmax(axis=1)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch: int = 256) -> None:
    """Replace batch norm's running statistics (an average over the last training batches) by
    the exact statistics of `x`, so that eval mode matches the data the model was trained on."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
    model.train()
    seen = 0
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        for m in bns:  # weight each batch by its size, so an uneven last batch does not skew the mean
            m.momentum = len(xb) / (seen + len(xb))
        model(channels_last(xb))
        seen += len(xb)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.eval()


def cosine_lr(opt: torch.optim.Optimizer, lr: float, i: int, steps: int) -> None:
    """Cosine decay to 0, a function of the step (so a resumed run is exact)."""
    for group in opt.param_groups:
        group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (i - 1) / steps))


def cnn_trainer(run_dir, steps: int, modules: dict, opt, gen, config: dict, desc: str,
                progress: bool) -> Trainer:
    """The resumable Trainer of a quality network (no sample grids; five checkpoints a run)."""
    return Trainer(run_dir, steps, modules, {"opt": opt}, gen, checkpoint_every=max(10, steps // 5),
                   sample_every=10**9, config=config, desc=desc, progress=progress, global_rng=False)


def run_key(paths, **settings) -> str:
    """A short hash of an image list and settings: the name of a training's cache folder."""
    h = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
    for p in paths:
        h.update(f"{p}\n".encode())
    return h.hexdigest()[:12]
