"""Feature extractors for the quality metrics: images in, one feature vector per image out.

FID, KID and precision/recall compare *distributions of features*, so the extractor decides
what "similar" means. Three are pluggable behind one interface (`extractor(images) ->
(N, D) float64`, images uint8 (N, H, W), or (N, H, W, 3) for a colour source: the CNNs are
then built with 3 input channels):

- `DomainExtractor` (default): a small CNN trained to tell the classes apart on the real
  *training* images of the split (the images the generators learnt from), cached under
  `RUNS/quality/extractor/`. Its pooled features know what ultrasound lesions look like; the
  cWGAN study likewise computed FID on its own classifier's features. Kept low-dimensional
  (32-64) because a covariance matrix needs more images than dimensions and BUSI has 133
  normal images.
- `InceptionExtractor` (helpers.quality.inception): Inception-v3's 2048-d pool features from a
  local weights file, as the FID literature uses; nothing is ever downloaded.
- `RandomExtractor`: the same small CNN with fixed random weights: no training, for tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from helpers.data.preprocess import channels_config, load_images
from helpers.data.records import DataError
from helpers.quality.cnn import (  # noqa: F401  (SmallCNN, to_tensor, recalibrate_batchnorm: re-exported)
    CNNExtractor,
    Extractor,
    SmallCNN,
    channels_last,
    cnn_trainer,
    cosine_lr,
    recalibrate_batchnorm,
    run_key,
    to_tensor,
)
from helpers.quality.inception import InceptionExtractor
from helpers.quality.presets import preset
from helpers.quality.ssl import ssl_extractor

KINDS = ("domain", "ssl", "inception", "random")


class RandomExtractor(CNNExtractor):
    """A SmallCNN with fixed random weights (seeded): features without any training."""

    name = "random"

    def __init__(self, width: int = 16, dim: int = 64, seed: int = 0, device: str = "cpu", channels: int = 1):
        g = torch.random.fork_rng()  # do not disturb the caller's random stream
        with g:
            torch.manual_seed(seed)
            model = SmallCNN(1, width, dim, channels)
        super().__init__(model, device)


class DomainExtractor(CNNExtractor):
    """A SmallCNN trained on real training images; features = its pooled last stage."""

    name = "domain"


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


def domain_extractor(cfg, records, steps: int | None = None, progress: bool = True) -> DomainExtractor:
    """Train (or load from `RUNS/quality/extractor/<key>/`) the default extractor on the
    records' training split. The key covers the image list and settings, so a new split or
    size gets its own classifier; an interrupted training resumes."""
    p = preset(cfg)
    train = records[records["split"] == "train"] if "split" in records else records
    if len(train) == 0:
        raise DataError("No training images to train the feature extractor on; run `python -m helpers prepare`.")
    steps = int(steps or p["extractor_steps"])
    key = run_key(sorted(map(str, train["path"])), size=cfg.size, schedule="cosine",
                  width=p["extractor_width"], dim=p["extractor_dim"], seed=cfg.seed)
    run_dir = cfg.runs_dir / "quality" / "extractor" / key
    images = load_images(train, cfg.size, cfg.cache_dir, progress=progress)
    model = prepare_domain_classifier(images, train["label"].to_numpy(), run_dir, steps, width=p["extractor_width"],
                                      dim=p["extractor_dim"], batch=p["extractor_batch"], seed=cfg.seed,
                                      device=cfg.device, progress=progress, desc="feature extractor")()
    return DomainExtractor(model, cfg.device, run_dir)


def get_extractor(cfg, records=None, kind: str = "domain", weights: str | Path | None = None,
                  progress: bool = True) -> Extractor:
    """The extractor named by `kind` for this run: 'domain' (default; trains or loads the
    domain classifier, needs `records`), 'ssl' (a self-supervised encoder on the same images,
    helpers.quality.ssl), 'inception' (local weights file) or 'random'."""
    if kind == "domain":
        if records is None:
            raise ValueError("the domain extractor is trained on the prepared records; pass `records`")
        return domain_extractor(cfg, records, progress=progress)
    if kind == "ssl":
        if records is None:
            raise ValueError("the self-supervised extractor is trained on the prepared records; pass `records`")
        return ssl_extractor(cfg, records, progress=progress)
    if kind == "inception":
        return InceptionExtractor(weights, cfg.device)
    if kind == "random":
        p = preset(cfg)
        return RandomExtractor(p["extractor_width"], p["extractor_dim"], cfg.seed, cfg.device,
                               cfg.channels)
    raise ValueError(f"Unknown feature extractor {kind!r}; choose one of {', '.join(KINDS)}.")
