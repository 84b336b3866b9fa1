"""How much a conditional generator's images depend on the label it is given.

A conditional GAN can learn to draw plausible images and still ignore its label: every row of
its grid then looks the same. The numbers here say how much the label matters. All are computed
on images drawn with the SAME noise vectors for every label, so that between the classes only
the label differs, and all on coarse image features: 16x16 average-pooled pixels (layout,
brightness, a dark mass, a shadow) plus a 16-bin intensity histogram; not texture or semantics.

- **label accuracy**: a simple classifier (a "probe": logistic regression on those features) is
  trained on the REAL training images and asked which class each generated image shows; the
  score is the share it gets right against the label the image was drawn for. A generator that
  ignores its label draws the same image for every label, so the probe gives them all one
  answer: exactly chance (1 / number of classes). Read it against chance and against the probe's
  accuracy on held-out real images: about what a generator that draws like the real data would
  get (samples that exaggerate the classes' differences can score higher).
- **label share**: the share of the generated pixels' variance that changes with the label at
  fixed noise (the rest changes with the noise). 0 for a generator that ignores its label; it
  says how much of an image the label controls, not whether in the right direction.
- **class spread**: the mean distance between the classes' mean generated images, divided by the
  same for the real images (0: no difference; 1: as far apart on average as the real classes).
- **class direction**: the correlation between how each class's mean generated image differs
  from the others' and how the real classes' means differ (1: the label moves the images the
  way the real classes differ; 0: unrelated, or no difference at all).
- **diversity**: the generated images' spread within a label (pixel std. dev. over the noise),
  divided by the real images' within a class: near 0 means one image per label (collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers.gan.core import as_images, generate

POOL = 16   # pooled image side of the features
BINS = 16   # intensity-histogram bins


def pooled(images, pool: int = POOL) -> torch.Tensor:
    """uint8 (N, H, W) / (N, H, W, 3) or float (N, C, H, W) in [-1, 1] -> (N, C, pool, pool) in [-1, 1]."""
    return F.adaptive_avg_pool2d(as_images(images).float().clamp(-1, 1), pool)


def probe_features(images, pool: int = POOL, bins: int = BINS) -> np.ndarray:
    """(N, C*pool^2 + bins) float64: average-pooled pixels and the share of pixels in each of
    `bins` intensity bins (contrast, how much of the image is dark)."""
    x = as_images(images).float().clamp(-1, 1)
    idx = ((x + 1) / 2 * bins).long().clamp_max(bins - 1).flatten(1)
    hist = torch.zeros(len(x), bins).scatter_add_(1, idx, torch.ones(idx.shape)) / idx.shape[1]
    return torch.cat([F.adaptive_avg_pool2d(x, pool).flatten(1), hist], 1).double().numpy()


def class_spread(means: np.ndarray) -> float:
    """Mean distance between the rows of `means` (one mean image per class)."""
    k = len(means)
    return float(np.mean([np.linalg.norm(means[i] - means[j]) for i in range(k) for j in range(i + 1, k)]))


@dataclass
class LabelProbe:
    """A classifier of the real images' classes on `probe_features`, to ask of generated images."""

    model: object
    n_classes: int
    real_contrast: np.ndarray  # (K, d) each real class's mean pooled image minus the mean of them
    real_std: float            # mean pixel std. dev. of the real images within a class (pooled)

    @classmethod
    def fit(cls, images, labels, n_classes: int | None = None, C: float = 0.01) -> LabelProbe:
        """Train on real images and their integer labels. A strong L2 penalty (small C) keeps the
        probe on coarse, robust differences: 16x16 pixels are many weights for a few hundred images."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        labels = np.asarray(labels)
        k = int(n_classes or labels.max() + 1)
        # class-balanced weights: the generated sets it judges are balanced, so it must not lean
        # towards the largest real class
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
        model.fit(probe_features(images), labels)
        px = pooled(images).flatten(1).double().numpy()
        means = np.stack([px[labels == c].mean(0) for c in range(k)])
        std = float(np.mean([px[labels == c].std(0).mean() for c in range(k)]))
        return cls(model, k, means - means.mean(0), std)

    def predict(self, images) -> np.ndarray:
        return self.model.predict(probe_features(images))

    def accuracy(self, images, labels) -> float:
        """Balanced accuracy: the mean over classes of the share predicted right."""
        labels = np.asarray(labels)
        pred = self.predict(images)
        return float(np.mean([np.mean(pred[labels == c] == c) for c in np.unique(labels)]))


@torch.no_grad()
def draw_per_label(G, n_per_class: int, n_classes: int, seed: int = 0, device: str = "cpu") -> tuple:
    """n_per_class images for each label from the SAME n_per_class noise vectors (eval mode):
    images (K * n, C, H, W) in [-1, 1], label-major, and their labels (K * n,)."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n_per_class, G.latent, generator=g).repeat(n_classes, 1)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    return generate(G, z, labels, device), labels.numpy()


def label_dependence(G, probe: LabelProbe, n_per_class: int = 100, seed: int = 0, device: str = "cpu") -> dict:
    """How much generator G's images depend on its label (see the module's docstring):
    {'label_accuracy', 'chance', 'label_share', 'class_spread', 'class_direction', 'diversity'}."""
    k = probe.n_classes
    x, y = draw_per_label(G, n_per_class, k, seed, device)
    px = pooled(x).flatten(1).double().numpy().reshape(k, n_per_class, -1)  # (label, noise, pixel)
    total = px.var(axis=(0, 1)).mean()
    means = px.mean(axis=1)
    contrast, real = means - means.mean(0), probe.real_contrast
    norms = np.linalg.norm(contrast) * np.linalg.norm(real)
    return {
        "label_accuracy": probe.accuracy(x, y),
        "chance": 1.0 / k,
        # variance across labels at fixed noise, over all variance
        "label_share": float(px.var(axis=0).mean() / total) if total > 0 else 0.0,
        "class_spread": class_spread(means) / max(class_spread(real), 1e-12),
        "class_direction": float((contrast * real).sum() / norms) if norms > 1e-12 else 0.0,
        "diversity": float(px.std(axis=1).mean() / max(probe.real_std, 1e-12)),
    }


def measure(G, train_images, train_labels, test_images=None, test_labels=None, n_per_class: int = 100,
            seed: int = 0, device: str = "cpu") -> dict:
    """`label_dependence` with a probe trained on the real training images; with held-out real
    images, also 'real_accuracy': the probe's accuracy on them (about what a generator that draws
    like the real data would get)."""
    probe = LabelProbe.fit(train_images, train_labels, n_classes=G.n_classes)
    out = label_dependence(G, probe, n_per_class, seed, device)
    if test_images is not None:
        out["real_accuracy"] = probe.accuracy(test_images, test_labels)
    return out
