"""A second feature space: a self-supervised encoder trained on the real training images.

The default features (helpers.quality.features.domain_extractor) come from a classifier, so
they keep what separates benign / normal / malignant and throw the rest away: a generator
can score well on them while its texture looks wrong, or badly while its images help. A
second opinion that knows nothing of the labels: SimCLR (Chen et al. 2020). Two random
views of each image (crop, mirror, brightness/contrast, noise) go through the same network,
and the NT-Xent loss pulls the two views of an image together and pushes the other images
of the batch away:

    l(i, j) = -log exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t)

with sim the cosine similarity of the projections z and t a temperature. The encoder is the
same SmallCNN as the domain extractor (so the two feature spaces have the same size and
differ only in what they were trained to keep); its pooled features are the output.
Training is resumable and cached under RUNS/quality/extractor-ssl/<key>/.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from helpers.data.preprocess import channels_config, load_images
from helpers.quality.cnn import (
    CNNExtractor,
    SmallCNN,
    channels_last,
    cnn_trainer,
    cosine_lr,
    recalibrate_batchnorm,
    run_key,
    to_tensor,
)
from helpers.quality.presets import preset


def views(x: torch.Tensor, gen: torch.Generator, min_scale: float = 0.6) -> torch.Tensor:
    """A random view of each image (N, C, H, W) in [-1, 1]: a crop of 60-100 % of the side
    resized back, a mirror half the time, brightness and contrast changed, a little noise."""
    n, _, h, w = x.shape
    scale = min_scale + (1 - min_scale) * torch.rand(n, generator=gen)
    cx, cy = [(1 - scale) * (2 * torch.rand(n, generator=gen) - 1) for _ in range(2)]
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    gain = (0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)).to(x.device)
    shift = (0.2 * torch.rand(n, 1, 1, 1, generator=gen) - 0.1).to(x.device)
    noise = 0.05 * torch.randn(x.shape, generator=gen).to(x.device)
    return (v * gain + shift + noise).clamp(-1, 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's loss for two batches of projections of the same images (row i with row i)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # an image is not its own positive
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def train_ssl_encoder(images: np.ndarray, run_dir, steps: int, width: int = 16, dim: int = 64, batch: int = 64,
                      lr: float = 2e-3, temperature: float = 0.2, seed: int = 0, device: str = "cpu",
                      progress: bool = True) -> SmallCNN:
    """Train a SmallCNN encoder with SimCLR on `images` (uint8 (N, H, W) or (N, H, W, 3)), resumably.
    Building it draws from torch's global generator: call it from one thread at a time."""
    x = to_tensor(images).to(device)
    torch.manual_seed(seed)
    model = SmallCNN(1, width, dim, channels=x.shape[1])  # the class head is unused
    head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 32))  # projection
    model, head = model.to(device).to(memory_format=torch.channels_last), head.to(device)
    params = list(model.body.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def step(i):
        cosine_lr(opt, lr, i, steps)
        model.train()
        idx = torch.randint(0, len(x), (min(batch, len(x)),), generator=gen).to(device)
        xb = x[idx]
        z1, z2 = (head(model.features(channels_last(views(xb, gen)))) for _ in range(2))
        loss = nt_xent(z1, z2, temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    config = dict(kind="simclr-small-cnn", width=width, dim=dim, batch=batch, lr=lr, temperature=temperature,
                  seed=seed, n_images=len(x), total_steps=steps, **channels_config(x.shape[1]))
    cnn_trainer(run_dir, steps, {"model": model, "head": head}, opt, gen, config, "self-supervised features",
                progress).run(step)
    recalibrate_batchnorm(model, x)
    return model.eval()


def ssl_extractor(cfg, records, steps: int | None = None, progress: bool = True) -> CNNExtractor:
    """Train (or load) the self-supervised encoder on the records' real training images."""
    p = preset(cfg)
    train = records[records["split"] == "train"] if "split" in records else records
    steps = int(steps or p.ssl_steps)
    key = run_key(sorted(map(str, train["path"])), size=cfg.size, kind="simclr", width=p.extractor_width,
               dim=p.extractor_dim, seed=cfg.seed)
    run_dir = cfg.runs_dir / "quality" / "extractor-ssl" / key
    images = load_images(train, cfg.size, cfg.cache_dir, progress=progress)
    model = train_ssl_encoder(images, run_dir, steps, width=p.extractor_width, dim=p.extractor_dim,
                              batch=p.extractor_batch, seed=cfg.seed, device=cfg.device, progress=progress)
    return CNNExtractor(model, cfg.device, run_dir, name="self-supervised")
