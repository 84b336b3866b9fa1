"""The paper profile cannot rot: every paper preset, at full size, takes one optimisation step
with a tiny batch on the CPU. Opt-in (a few minutes, several GB): COURSE_PAPER_PRESETS=1 (CI sets it)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(os.environ.get("COURSE_PAPER_PRESETS") != "1",
                                reason="set COURSE_PAPER_PRESETS=1 to build the paper presets at full size")

SIZE = 128  # the paper profile's image size
GANS = ("wgan", "wgan-gp", "dcgan", "cwgan")


@pytest.mark.parametrize("kind", GANS)
def test_paper_gan_preset_takes_one_step(kind):
    from helpers.gan.core import make_run
    from helpers.gan.presets import get_preset
    from helpers.gan.steps import cwgan_step, dcgan_step, wgan_step

    p = get_preset(kind, "paper").with_(batch=2)
    x = (np.random.default_rng(0).random((4, SIZE, SIZE)) * 255).astype(np.uint8)
    labels = np.array([0, 1, 2, 0]) if kind == "cwgan" else None
    run = make_run(p, x, 0, "cpu", labels=labels, n_classes=3 if kind == "cwgan" else 0)
    before = [q.detach().clone() for q in run.G.parameters()]
    out = {"cwgan": cwgan_step, "dcgan": dcgan_step}.get(kind, wgan_step)(run)
    assert all(np.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, run.G.parameters()))
    assert run.G(torch.randn(1, p.latent), torch.tensor([1]) if kind == "cwgan" else None).shape[-1] == SIZE


def test_paper_ddpm_preset_takes_one_step():
    from helpers.ddpm.diffusion import Schedule
    from helpers.ddpm.pipeline import build_model
    from helpers.ddpm.presets import preset
    from helpers.ddpm.steps import diffusion_loss

    p = preset("paper")
    model = build_model(p, SIZE, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr)
    g = torch.Generator().manual_seed(0)
    loss = diffusion_loss(model, torch.randn(2, 1, SIZE, SIZE), torch.tensor([0, 2]), Schedule.make(p.schedule, p.T), g,
                          p.objective, None, p.p_uncond, p.min_snr)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)


def _paper_archs():
    from helpers.classify.presets import PRESETS

    return list(PRESETS["paper"].archs)


@pytest.mark.parametrize("arch", _paper_archs())
def test_paper_classifier_takes_one_step(arch):
    from helpers.classify.models import build_model

    torch.manual_seed(0)
    model, used = build_model(arch, 3, pretrained=False)
    assert used is False
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    out = model(torch.randn(2, 3, SIZE, SIZE))
    out = out.logits if hasattr(out, "logits") else out
    assert out.shape == (2, 3)
    loss = torch.nn.functional.cross_entropy(out, torch.tensor([0, 2]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
