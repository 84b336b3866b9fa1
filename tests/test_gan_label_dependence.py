"""helpers.gan.label_dependence: how much a conditional generator's images depend on its label.

On a toy set whose three classes differ plainly (dark, bright, bright above dark), the measure
must give exactly chance to a generator that ignores its label, a high score to one that draws
each class as the data do, and a clearly-above-chance score to a short cWGAN-GP run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers.gan.core import load_generator
from helpers.gan.label_dependence import (
    LabelProbe,
    draw_per_label,
    label_dependence,
    measure,
    probe_features,
)
from helpers.gan.nets import Generator
from helpers.gan.pipeline import train_run

K = 3


def toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n noisy 32 px images, classes in turn: 0 dark, 1 bright, 2 bright above dark (the edge at
    a random height)."""
    rng = np.random.default_rng(seed)
    imgs = rng.normal(0, 25, (n, 32, 32))
    labels = np.arange(n) % K
    for img, c in zip(imgs, labels):
        cut = 32 if c == 1 else 0 if c == 0 else rng.integers(10, 22)
        img[:cut] += 190
        img[cut:] += 60
    return np.clip(imgs, 0, 255).astype(np.uint8), labels


class LabelBlind(nn.Module):
    """A conditional generator that ignores the label it is given (draws class 0 for all)."""

    def __init__(self, G):
        super().__init__()
        self.G, self.latent, self.n_classes = G, G.latent, G.n_classes

    def forward(self, z, labels=None):
        return self.G(z, torch.zeros_like(labels))


class Oracle(nn.Module):
    """A 'generator' that draws held-out toy images of the class asked for."""

    latent, n_classes = 4, K

    def __init__(self):
        super().__init__()
        self.x, self.y = toy(30 * K, 5)

    def forward(self, z, labels):
        pick = [np.flatnonzero(self.y == int(c))[i % 30] for i, c in enumerate(labels)]
        return torch.from_numpy(self.x[pick]).float()[:, None] / 127.5 - 1


@pytest.fixture(scope="module")
def probe():
    x, y = toy(90, 0)
    return LabelProbe.fit(x, y, K)


def test_probe_features_take_uint8_and_floats():
    x, _ = toy(6, 1)
    a = probe_features(x)
    b = probe_features(torch.from_numpy(x).float()[:, None] / 127.5 - 1)
    assert a.shape == (6, 16 * 16 + 16) and np.allclose(a, b, atol=1e-5)
    assert np.allclose(a[:, -16:].sum(1), 1)  # the histogram shares sum to 1


def test_draw_per_label_uses_the_same_noise_for_every_label():
    torch.manual_seed(0)
    G = Generator(32, latent=8, width=4, n_classes=K).eval()
    x, y = draw_per_label(LabelBlind(G), 5, K)
    assert x.shape == (5 * K, 1, 32, 32) and list(y) == [0] * 5 + [1] * 5 + [2] * 5
    assert torch.equal(x[:5], x[5:10]) and torch.equal(x[:5], x[10:])


def test_label_blind_generator_scores_chance(probe):
    torch.manual_seed(0)
    out = label_dependence(LabelBlind(Generator(32, latent=8, width=4, n_classes=K)), probe, n_per_class=20)
    # the same image for every label: the probe gives one answer for all three
    assert out["label_accuracy"] == pytest.approx(1 / K) and out["chance"] == pytest.approx(1 / K)
    assert out["label_share"] == pytest.approx(0, abs=1e-9) and out["class_spread"] == pytest.approx(0, abs=1e-9)


def test_oracle_generator_scores_high(probe):
    out = label_dependence(Oracle(), probe, n_per_class=20)
    assert out["label_accuracy"] > 0.9 and out["label_share"] > 0.5
    assert 0.5 < out["class_spread"] < 2 and 0.5 < out["diversity"] < 2


def test_short_cwgan_run_learns_the_label(tmp_path, smoke_cfg):
    """A few seconds of the cWGAN-GP on the toy set: its images depend on the label, clearly
    above chance, and the same generator with the label ignored falls back to chance."""
    x, y = toy(96, 0)
    run_dir = tmp_path / "cwgan"
    train_run("cwgan", (x, y), smoke_cfg, run_dir, steps=150, progress=False, n_classes=K, n_critic=1,
              lr_g=1e-3, lr_d=1e-3, sample_every=1000, checkpoint_every=1000)
    G = load_generator(run_dir)
    xt, yt = toy(60, 1)
    out = measure(G, x, y, xt, yt, n_per_class=50)
    assert out["real_accuracy"] > 0.95
    assert out["label_accuracy"] > 0.6 and out["label_share"] > 0.5, out
    blind = label_dependence(LabelBlind(G), LabelProbe.fit(x, y, K), n_per_class=50)
    assert blind["label_accuracy"] == pytest.approx(1 / K) and blind["label_share"] < 1e-9


def test_critic_class_vectors_are_centred_and_start_small():
    """The projection critic's class vectors sum to 0 over the classes (the class term says only
    how the classes differ), start near 0, and are stored as `embed.weight` like nn.Embedding's."""
    from helpers.gan.nets import Critic

    torch.manual_seed(0)
    D = Critic(32, width=4, n_classes=K)
    e = D.embed(torch.arange(K))
    assert torch.allclose(e.sum(0), torch.zeros_like(e[0]), atol=1e-6)
    assert float(D.embed.weight.detach().std()) < 0.05
    assert "embed.weight" in D.state_dict()
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 1])
    h = D.features(x).flatten(1)
    want = D.score(h).squeeze(1) + ((D.embed.weight - D.embed.weight.mean(0))[y] * h).sum(1)
    assert torch.allclose(D(x, y), want, atol=1e-6)
