"""Inception-v3 features for FID, from a local weights file.

torchvision's Inception-v3 architecture with weights read from a local file (argument, or the
COURSE_INCEPTION_WEIGHTS environment variable); the 2048-d pool features the FID literature
uses. Nothing is ever downloaded. torchvision's ImageNet weights differ from the TensorFlow
"FID Inception" weights, so values are comparable with each other, not with published FIDs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from helpers.data.records import DataError
from helpers.quality.cnn import Extractor, batched, to_tensor
from helpers.train.checkpoint import load_checkpoint

INCEPTION_ENV = "COURSE_INCEPTION_WEIGHTS"


class InceptionExtractor(Extractor):
    """Inception-v3 pool features (2048-d) from a local torchvision-format weights file."""

    name = "inception"
    dim = 2048

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", batch: int = 32):
        from torchvision.models import inception_v3

        path = weights or os.environ.get(INCEPTION_ENV)
        if not path:
            raise DataError(f"No Inception-v3 weights file given. Pass its path, or set {INCEPTION_ENV} to a "
                            "local torchvision inception_v3 state dict (.pth); nothing is downloaded. "
                            "Otherwise use the default extractor ('domain').")
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataError(f"Inception-v3 weights file {path} does not exist. Point {INCEPTION_ENV} (or the "
                            "argument) at a torchvision inception_v3 state dict.")
        state, _ = load_checkpoint(path, what="Inception-v3 weights file")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        # transform_input: the weights were ported from TensorFlow and expect [-1, 1]; this converts
        # from the ImageNet mean/std input we feed, as torchvision does for its pretrained model.
        model = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise DataError(f"{path} is not a torchvision inception_v3 state dict ({str(e).splitlines()[0]}). "
                            "FID-Inception files from other packages use another layout.") from None
        model.fc = nn.Identity()
        self.model = model.to(device).eval()
        self.device, self.batch, self.weights = device, batch, path

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate((x + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x  # grey copied into RGB; RGB as it is
        mean = torch.tensor(IMAGENET_MEAN, device=x.device)[None, :, None, None]
        std = torch.tensor(IMAGENET_STD, device=x.device)[None, :, None, None]
        return self.model((x - mean) / std)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return batched(self._forward, to_tensor(images), self.device, self.batch)
