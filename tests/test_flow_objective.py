"""Flow matching's loss and samplers: checked against a peer library on the same tensors, and
on a 2-D Gaussian mixture whose modes a trained sampler must recover."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers.ddpm.unet import UNet
from helpers.flow import sampling
from helpers.flow import steps as S
from helpers.flow.objective import interpolate, net_time, velocity_target

path_lib = pytest.importorskip("flow_matching.path")
scheduler_lib = pytest.importorskip("flow_matching.path.scheduler")
solver_lib = pytest.importorskip("flow_matching.solver")


def _unet():
    torch.manual_seed(0)
    net = UNet(size=16, in_ch=1, base=8, mults=(1, 2), n_classes=3)
    for p in net.parameters():  # random weights everywhere (the U-Net starts its blocks at zero)
        nn.init.normal_(p, std=0.05)
    return net.eval()


def _peer_path():
    return path_lib.AffineProbPath(scheduler=scheduler_lib.CondOTScheduler())


def test_path_and_target_match_the_flow_matching_library():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(5, 1, 16, 16, generator=g), torch.rand(5, 1, 16, 16, generator=g) * 2 - 1
    t = torch.tensor([0.0, 0.1, 0.5, 0.93, 1.0])
    peer = _peer_path().sample(x_0=x0, x_1=x1, t=t)
    assert torch.allclose(interpolate(x0, x1, t), peer.x_t, atol=1e-6)
    assert torch.allclose(velocity_target(x0, x1), peer.dx_t, atol=1e-6)


def test_loss_matches_the_flow_matching_library_on_the_same_draws():
    """Our loss draws t, the noise and the label dropout from its generator in that order; the
    peer's conditional flow-matching loss on those very draws gives the same number."""
    net, g = _unet(), torch.Generator().manual_seed(3)
    x1 = torch.rand(6, 1, 16, 16, generator=g) * 2 - 1
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        ours = S.flow_matching_loss(net, x1, y, torch.Generator().manual_seed(7), p_uncond=0.5)
        d = torch.Generator().manual_seed(7)
        t = torch.rand(6, generator=d)
        x0 = torch.randn(x1.shape, generator=d)
        drop = torch.rand(6, generator=d) < 0.5
        assert 0 < drop.sum() < 6  # both kinds of label in the batch
        yd = torch.where(drop, torch.full_like(y, net.null_class), y)
        ps = _peer_path().sample(x_0=x0, x_1=x1, t=t)
        peer = torch.nn.functional.mse_loss(net(ps.x_t, net_time(t), yd), ps.dx_t)
    assert torch.allclose(ours, peer, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method,peer_method", [("euler", "euler"), ("heun", "heun2")])
def test_one_guided_step_and_a_whole_path_match_the_library_solver(method, peer_method):
    net = _unet()
    y = torch.tensor([0, 2, 1])
    velocity = sampling.guided_velocity(net, y, guidance=2.5)
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    solver = solver_lib.ODESolver(velocity_model=lambda x, t: velocity(x, t))
    step = sampling.STEPS[method][0]
    with torch.no_grad():
        ours = step(velocity, x, 0.25, 0.25)
        peer = solver.sample(x_init=x, step_size=None, method=peer_method, time_grid=torch.tensor([0.25, 0.5]))
        assert torch.allclose(ours, peer, atol=1e-5)
        whole = sampling.integrate(velocity, x, nfe=8, method=method)
        n = sampling.n_steps(method, 8)
        peer = solver.sample(x_init=x, step_size=None, method=peer_method, time_grid=torch.linspace(0, 1, n + 1))
        assert torch.allclose(whole, peer, atol=1e-4)


def test_guidance_mixes_the_conditional_and_unconditional_velocities():
    net = _unet()
    x, y = torch.randn(2, 1, 16, 16), torch.tensor([1, 2])
    t = torch.full((2,), 0.3)
    with torch.no_grad():
        cond, uncond = net(x, net_time(t), y), net(x, net_time(t), torch.full_like(y, net.null_class))
        got = sampling.guided_velocity(net, y, guidance=3.0)(x, 0.3)
    assert torch.allclose(got, uncond + 3.0 * (cond - uncond), atol=1e-5)
    assert not torch.allclose(cond, uncond)


def test_heun_needs_an_even_number_of_evaluations():
    assert sampling.n_steps("heun", 8) == 4 and sampling.n_steps("euler", 5) == 5
    with pytest.raises(ValueError, match="multiple of 2"):
        sampling.n_steps("heun", 5)
    with pytest.raises(ValueError, match="Unknown sampler"):
        sampling.n_steps("rk4", 4)


# -- a 2-D Gaussian mixture ---------------------------------------------------------------
MODES = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])


class MLP(nn.Module):
    """v(x, t) on points of the plane, shaped as 2-channel 1x1 images; the label is ignored."""

    null_class, in_ch = 0, 2

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))

    def forward(self, x, t, y):
        h = torch.cat([x.flatten(1), (t / 1000.0)[:, None]], 1)
        return self.net(h).reshape(x.shape)


def _mixture(n, g):
    return (MODES[torch.randint(0, 4, (n,), generator=g)] + 0.15 * torch.randn(n, 2, generator=g))[:, :, None, None]


def _wrong_reversed(x0, x1):
    return x0 - x1


def _wrong_image(x0, x1):
    return x1


@pytest.mark.parametrize("target,recovers", [(velocity_target, True), (_wrong_reversed, False),
                                             (_wrong_image, False)], ids=["x1-x0", "x0-x1", "x1"])
def test_a_trained_sampler_recovers_the_modes_of_a_mixture_and_a_wrong_target_does_not(target, recovers,
                                                                                       monkeypatch):
    """An MLP trained with our loss and sampled with our Euler sampler puts about a quarter of
    its points near each of the four modes; trained on a wrong velocity it does not."""
    monkeypatch.setattr(S, "velocity_target", target)
    torch.manual_seed(0)
    model, g = MLP(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    y = torch.zeros(256, dtype=torch.long)
    for _ in range(1500):
        loss = S.flow_matching_loss(model, _mixture(256, g), y, g, p_uncond=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pts = sampling.sample(model, torch.zeros(2000, dtype=torch.long), size=1, nfe=20, method="euler",
                          generator=torch.Generator().manual_seed(1), clip=False).flatten(1)
    dist = torch.cdist(pts, MODES)
    near, which = dist.min(1)
    share = torch.bincount(which[near < 0.75], minlength=4).float() / len(pts)
    ok = bool((share > 0.15).all() and share.sum() > 0.85)
    assert ok == recovers, f"share of samples near each mode: {share.tolist()}"
    if recovers:
        assert math.isfinite(loss.item())
