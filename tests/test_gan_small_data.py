"""The small-data GAN toolkit: DiffAugment and class-conditional batch norm."""

from __future__ import annotations

import pytest
import torch

from helpers.errors import SettingError
from helpers.gan import augment
from helpers.gan.core import make_run
from helpers.gan.nets import ClassBatchNorm, Generator
from helpers.gan.presets import get_preset


def _x(n=6, c=1, size=32, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_shifts_each_image_by_at_most_an_eighth_and_fills_with_zero():
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 12:20, 12:20] = 1.0  # a bright square in the middle
    out = augment.translation(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for img in out[:, 0]:
        rows, cols = torch.nonzero(img == 1.0, as_tuple=True)
        assert len(rows) == 64  # the square moves whole: nothing of it is lost or stretched
        assert abs(int(rows.min()) - 12) <= 4 and abs(int(cols.min()) - 12) <= 4
    shifts = {(int(torch.nonzero(i[0] == 1)[0, 0]), int(torch.nonzero(i[0] == 1)[0, 1])) for i in out}
    assert len(shifts) > 10  # each image its own shift
    edge = augment.translation(torch.ones(64, 1, 32, 32), torch.Generator().manual_seed(1))
    assert set(edge.unique().tolist()) <= {0.0, 1.0} and (edge == 0).any()  # uncovered border: zeros


def test_cutout_zeroes_one_square_of_half_the_side():
    out = augment.cutout(torch.ones(32, 1, 32, 32), torch.Generator().manual_seed(0))
    holes = (out == 0).sum(dim=(1, 2, 3))
    assert (holes > 0).all() and (holes <= 16 * 16).all()
    assert (holes == 256).sum() > 5  # most squares fall wholly inside the image


def test_color_keeps_shapes_and_changes_brightness_per_image():
    x = _x()
    out = augment.color(x, torch.Generator().manual_seed(0))
    means = out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))
    assert out.shape == x.shape and means.std() > 0.05
    rgb = augment.color(_x(c=3), torch.Generator().manual_seed(0))
    assert rgb.shape == (6, 3, 32, 32)


def test_augmentation_is_differentiable_and_repeats_with_the_seed():
    x = _x().requires_grad_(True)
    out = augment.diff_augment(x, ("color", "translation", "cutout"), torch.Generator().manual_seed(3))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = augment.diff_augment(x.detach(), ("color", "translation", "cutout"), torch.Generator().manual_seed(3))
    assert torch.equal(out.detach(), again)


def test_run_augments_only_when_the_preset_asks():
    imgs = (torch.rand(8, 32, 32) * 255).to(torch.uint8)
    off = make_run(get_preset("wgan-gp", "smoke"), imgs, 0, "cpu")
    x = off.x[:4]
    assert off.augment(x) is x
    on = make_run(get_preset("wgan-gp", "smoke", diffaug="translation,cutout"), imgs, 0, "cpu")
    assert not torch.equal(on.augment(x), x)
    with pytest.raises(SettingError, match="diffaug"):
        get_preset("wgan-gp", "smoke", diffaug="flip")


def test_class_batch_norm_gives_each_class_its_own_scale_and_shift():
    torch.manual_seed(0)
    norm = ClassBatchNorm(3, 4)
    with torch.no_grad():
        norm.gain[1] = 2.0
        norm.shift[2] = 5.0
    x = torch.randn(6, 4, 2, 2)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    out = norm(x, y)
    plain = torch.nn.functional.batch_norm(x, None, None, training=True)
    assert torch.allclose(out[:2], plain[:2], atol=1e-5)
    assert torch.allclose(out[2:4], 2 * plain[2:4], atol=1e-5)
    assert torch.allclose(out[4:], plain[4:] + 5, atol=1e-5)


def test_conditional_norm_generator_depends_on_its_label_in_every_layer():
    torch.manual_seed(0)
    g = Generator(32, latent=8, width=4, n_classes=3, embed_dim=2, cond_norm=True)
    norms = [m for m in g.modules() if isinstance(m, ClassBatchNorm)]
    assert len(norms) == 3  # 4x4, 8x8, 16x16: every hidden layer
    with torch.no_grad():
        for m in norms:
            m.shift[1] += 1.0  # class 1 moved at every layer
        g.eval()
        z = torch.randn(4, 8)
        a, b = g(z, torch.zeros(4, dtype=torch.long)), g(z, torch.ones(4, dtype=torch.long))
    assert (a - b).abs().mean() > 0.05
    plain = Generator(32, latent=8, width=4, n_classes=3, embed_dim=2)
    assert not any(isinstance(m, ClassBatchNorm) for m in plain.modules())
