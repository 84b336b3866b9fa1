"""Feature extractors for the quality metrics: images in, one feature vector per image out.

FID, KID and precision/recall compare *distributions of features*, so the extractor decides
what "similar" means. Three are pluggable behind one interface (`extractor(images) ->
(N, D) float64`, images uint8 (N, H, W), or (N, H, W, 3) for a colour source: the CNNs are
then built with 3 input channels):

- `domain_extractor` (default): a small CNN trained to tell the classes apart on the real
  *training* images of the split (the images the generators learnt from), cached under
  `RUNS/quality/extractor/`. Its pooled features know what ultrasound lesions look like; the
  cWGAN study likewise computed FID on its own classifier's features. Kept low-dimensional
  (32-64) because a covariance matrix needs more images than dimensions and BUSI has 133
  normal images.
- `InceptionExtractor`: Inception-v3's 2048-d pool features (torchvision's architecture) from a
  local weights file (argument, or the COURSE_INCEPTION_WEIGHTS environment variable), as the
  FID literature uses; nothing is ever downloaded. torchvision's ImageNet weights differ from
  the TensorFlow "FID Inception" weights, so values are comparable with each other, not with
  published FIDs.
- `RandomExtractor`: the same small CNN with fixed random weights: no training, for tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, channels_config, load_images
from helpers.data.records import DataError
from helpers.quality.cnn import (  # noqa: F401  (SmallCNN, to_tensor, recalibrate_batchnorm: re-exported)
    CNNExtractor,
    Extractor,
    SmallCNN,
    batched,
    channels_last,
    cnn_trainer,
    cosine_lr,
    recalibrate_batchnorm,
    run_key,
    to_tensor,
)
from helpers.quality.presets import preset
from helpers.quality.ssl import ssl_extractor
from helpers.train.checkpoint import load_checkpoint

KINDS = ("domain", "ssl", "inception", "random")
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


class RandomExtractor(CNNExtractor):
    """A SmallCNN with fixed random weights (seeded): features without any training."""

    name = "random"

    def __init__(self, width: int = 16, dim: int = 64, seed: int = 0, device: str = "cpu", channels: int = 1):
        g = torch.random.fork_rng()  # do not disturb the caller's random stream
        with g:
            torch.manual_seed(seed)
            model = SmallCNN(1, width, dim, channels)
        super().__init__(model, device)


def train_domain_classifier(images: np.ndarray, labels: np.ndarray, run_dir: str | Path, steps: int,
                            **kw) -> SmallCNN:
    """`prepare_domain_classifier`, then trained: the model (eval mode)."""
    return prepare_domain_classifier(images, labels, run_dir, steps, **kw)()


def prepare_domain_classifier(images: np.ndarray, labels: np.ndarray, run_dir: str | Path, steps: int,
                              width: int = 16, dim: int = 64, batch: int = 32, lr: float = 1e-3,
                              n_classes: int | None = None, seed: int = 0, device: str = "cpu",
                              progress: bool = True, desc: str = "classifier") -> Callable[[], SmallCNN]:
    """A SmallCNN that classifies `images` (class-balanced batches, random horizontal flips),
    set up (built and seeded here), not started: the call that trains it, resumably in `run_dir`,
    and returns it in eval mode. Classifiers trained side by side in threads are set up in the
    calling thread (helpers.parallel), since building one draws from torch's global generator."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (got {len(images)} images, {len(labels)} labels)")
    n_classes = int(n_classes or labels.max() + 1)
    x, y = to_tensor(images).to(device), torch.tensor(labels).to(device)
    # Each class drawn equally often: otherwise the majority class (benign) dominates the features.
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = torch.from_numpy(1.0 / counts[labels]).float()
    torch.manual_seed(seed)
    model = SmallCNN(n_classes, width, dim, channels=x.shape[1])
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def step(i):
        # Cosine decay to 0: with batch norm, the eval-mode accuracy of a constant-rate run swings
        # from one step to the next (measured on BUSI: 0.81, 0.46, 0.74 test accuracy at steps
        # 200, 300, 400); a decayed rate ends in a stable model.
        cosine_lr(opt, lr, i, steps)
        model.train()
        idx = torch.multinomial(w, batch, replacement=True, generator=gen).to(device)
        xb = x[idx]
        flip = (torch.rand(len(idx), generator=gen) < 0.5).to(device)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        loss = F.cross_entropy(model(channels_last(xb)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    config = dict(kind="small-cnn", schedule="cosine", width=width, dim=dim, batch=batch, lr=lr,
                  n_classes=n_classes, seed=seed, total_steps=steps, **channels_config(x.shape[1]))
    trainer = cnn_trainer(run_dir, steps, {"model": model}, opt, gen, config, desc, progress)

    def train() -> SmallCNN:
        trainer.run(step)
        recalibrate_batchnorm(model, x)
        return model.eval()

    return train


def domain_extractor(cfg, records, steps: int | None = None, progress: bool = True) -> CNNExtractor:
    """Train (or load from `RUNS/quality/extractor/<key>/`) the default extractor on the
    records' training split. The key covers the image list and settings, so a new split or
    size gets its own classifier; an interrupted training resumes."""
    p = preset(cfg)
    train = records[records["split"] == "train"] if "split" in records else records
    if len(train) == 0:
        raise DataError("No training images to train the feature extractor on; run `python -m helpers prepare`.")
    steps = int(steps or p.extractor_steps)
    key = run_key(sorted(map(str, train["path"])), size=cfg.size, schedule="cosine",
               width=p.extractor_width,
               dim=p.extractor_dim, seed=cfg.seed)
    run_dir = cfg.runs_dir / "quality" / "extractor" / key
    images = load_images(train, cfg.size, cfg.cache_dir, progress=progress)
    model = train_domain_classifier(images, train["label"].to_numpy(), run_dir, steps, width=p.extractor_width,
                                    dim=p.extractor_dim, batch=p.extractor_batch, seed=cfg.seed,
                                    device=cfg.device, progress=progress, desc="feature extractor")
    return CNNExtractor(model, cfg.device, run_dir, name="domain")  # features: its pooled last stage


def get_extractor(cfg, records=None, kind: str = "domain", weights: str | Path | None = None,
                  progress: bool = True) -> Extractor:
    """The extractor named by `kind` for this run: 'domain' (default; trains or loads the
    domain classifier, needs `records`), 'ssl' (a self-supervised encoder on the same images,
    helpers.quality.ssl), 'inception' (local weights file) or 'random'."""
    if kind in ("domain", "ssl"):
        if records is None:
            what = "domain" if kind == "domain" else "self-supervised"
            raise ValueError(f"the {what} extractor is trained on the prepared records; pass `records`")
        train = domain_extractor if kind == "domain" else ssl_extractor
        return train(cfg, records, progress=progress)
    if kind == "inception":
        return InceptionExtractor(weights, cfg.device)
    if kind == "random":
        p = preset(cfg)
        return RandomExtractor(p.extractor_width, p.extractor_dim, cfg.seed, cfg.device,
                               cfg.channels)
    raise ValueError(f"Unknown feature extractor {kind!r}; choose one of {', '.join(KINDS)}.")
