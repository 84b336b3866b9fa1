"""Training steps that never wait for the device: metrics as tensors read back once per
interval, the DDPM schedule copied once per device, the EMA's count kept on the CPU; the
U-Net's layout as a setting; torch.compile of the steps as an opt-in setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from helpers.ddpm.diffusion import Schedule
from helpers.ddpm.ema import make_ema
from helpers.ddpm.pipeline import train_ddpm
from helpers.ddpm.presets import preset
from helpers.ddpm.unet import UNet, memory_format
from helpers.errors import TrainingDiverged
from helpers.gan.core import grad_norm, make_run
from helpers.gan.presets import get_preset
from helpers.gan.steps import cwgan_step, dcgan_step, wgan_step
from helpers.train import loop
from helpers.train.compiled import compile_module
from helpers.train.loop import CHECKPOINT, Trainer
from helpers.train.metrics import to_floats

TINY = dict(base=4, mults=(1, 2), batch=4, lr=1e-3, warmup=2, checkpoint_every=2, sample_every=100,
            grid_per_class=1, ddim_steps=2, ema_decay=0.9)


def _images(n=12, size=32, seed=0):
    return (np.random.default_rng(seed).random((n, size, size)) * 255).astype(np.uint8)


# -- 1. no host synchronisation inside a step ------------------------------------------------

@pytest.mark.parametrize("kind", ["wgan-gp", "dcgan", "cwgan"])
def test_gan_steps_return_tensors_not_floats(kind):
    labels = np.arange(12) % 3 if kind == "cwgan" else None
    run = make_run(get_preset(kind, "smoke"), _images(), 0, "cpu", labels=labels, n_classes=3 if labels is not None else 0)
    out = {"cwgan": cwgan_step, "dcgan": dcgan_step}.get(kind, wgan_step)(run)
    assert out and all(isinstance(v, torch.Tensor) and v.numel() == 1 for v in out.values()), out
    assert isinstance(grad_norm(run.G), torch.Tensor)


def test_ddpm_step_returns_tensors(tmp_path):
    from helpers.ddpm.steps import ddpm_train_step

    seen = []

    def step(run, i):
        out = ddpm_train_step(run, i)
        seen.append(out)
        return out

    x, y = _images(9, 16), np.arange(9) % 3
    train_ddpm(x, y, tmp_path, preset("smoke", **TINY, steps=2), 3, progress=False, step=step)
    assert len(seen) == 2
    assert isinstance(seen[0]["loss"], torch.Tensor) and isinstance(seen[0]["grad_norm"], torch.Tensor)


def test_tensor_metrics_are_read_back_exactly_and_in_one_copy():
    vals = [torch.tensor(v, dtype=torch.float32) for v in (0.1, 1 / 3, 1e-8, -2.5e7)] + [torch.tensor(0.7, dtype=torch.bfloat16)]
    rows = [{"step": i, "m": v, "lr": 0.5} for i, v in enumerate(vals)]
    out = to_floats(rows)
    assert [r["m"] for r in out] == [float(v) for v in vals]  # bit for bit what float() gives
    assert all(type(r["m"]) is float and r["lr"] == 0.5 for r in out)
    assert torch.is_tensor(rows[0]["m"])  # the input rows are left as they were
    with pytest.raises(ValueError, match="one number"):
        to_floats([{"m": torch.ones(2)}])


def _trainer(tmp_path, total, every=10, log_every=5):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    return Trainer(tmp_path, total, {"model": model}, {"opt": torch.optim.SGD(model.parameters(), lr=0.1)},
                   torch.Generator().manual_seed(0), checkpoint_every=every, sample_every=1000, progress=False,
                   log_every=log_every)


def test_the_trainer_reads_tensor_metrics_back_once_per_interval(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(loop, "to_floats", lambda rows: calls.append(len(rows)) or to_floats(rows))
    h = _trainer(tmp_path, 20).run(lambda i: {"loss": torch.tensor(i / 7), "lr": 0.1})
    assert calls == [5, 5, 5, 5]  # steps 5, 10 (checkpoint), 15, 20 (the end): not once per step
    assert list(h.frame["loss"]) == [float(torch.tensor(i / 7)) for i in range(1, 21)]
    calls.clear()
    _trainer(tmp_path / "floats", 4).run(lambda i: {"loss": i / 7})
    assert calls == [1, 1, 1, 1]  # a step that returns floats has waited already: checked at once


def test_a_nan_tensor_is_caught_at_its_step_before_the_next_checkpoint(tmp_path):
    metric = lambda i: {"loss": torch.tensor(math.nan if i == 7 else 1.0)}  # noqa: E731
    with pytest.raises(TrainingDiverged, match=r"at step 7\..*is from step 5"):
        _trainer(tmp_path, 20, every=5, log_every=100).run(metric)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["step"] == 5


def test_the_schedule_is_copied_to_a_device_once():
    sched = Schedule.make("linear", 50)
    t = torch.tensor([0, 3, 49])
    for _ in range(3):
        sched.at("alpha_bar", t)
        sched.at("betas", t)
    assert set(sched._on) == {("alpha_bar", torch.device("cpu")), ("betas", torch.device("cpu"))}
    meta = torch.device("meta")  # another device: one copy there, kept
    assert sched.on("alpha_bar", meta) is sched.on("alpha_bar", meta) and sched.on("alpha_bar", meta).is_meta
    assert torch.equal(sched.at("alpha_bar", t).flatten(), sched.alpha_bar[t].float())


def test_the_ema_matches_torchs_averaged_model_with_its_count_on_the_cpu():
    torch.manual_seed(0)
    model = UNet(16, base=4, mults=(1, 2), n_classes=2)

    def old_update(ema_params, params, n_averaged):  # the warm-up EMA as written before
        d = min(0.9, (1 + float(n_averaged)) / (10 + float(n_averaged)))
        get_ema_multi_avg_fn(d)(ema_params, params, n_averaged)

    ours, ref = make_ema(model, 0.9), AveragedModel(model, multi_avg_fn=old_update, use_buffers=True)
    for _ in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ours.update_parameters(model)
        ref.update_parameters(model)
    assert ours.n_averaged.device.type == "cpu" and int(ours.n_averaged) == 4
    assert ours.state_dict().keys() == ref.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))


# -- 2. the U-Net's layout -------------------------------------------------------------------

def test_layout_auto_is_nchw_on_cuda_and_channels_last_on_the_cpu():
    assert memory_format("auto", "cuda") == torch.contiguous_format == memory_format("nchw", "cpu")
    assert memory_format("auto", "cpu") == torch.channels_last == memory_format("channels_last", "cuda")
    with pytest.raises(ValueError, match="layout"):
        memory_format("nhwc", "cpu")


def test_both_layouts_give_the_same_outputs_and_attention_gets_contiguous_inputs(monkeypatch):
    torch.manual_seed(0)
    net = UNet(16, base=8, mults=(1, 2), n_classes=2, attn_levels=(0, 1)).eval()
    for p in net.parameters():  # zero-initialised layers would hide a layout's effect
        torch.nn.init.normal_(p, std=0.2)
    x, t, y = torch.randn(3, 1, 16, 16), torch.tensor([1, 50, 99]), torch.tensor([0, 1, 2])
    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda q, k, v, **kw: seen.append((q.is_contiguous(), k.is_contiguous(), v.is_contiguous()))
                        or sdpa(q, k, v, **kw))
    with torch.no_grad():
        a = net.to(memory_format=torch.contiguous_format)(x, t, y)
        b = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last), t, y)
    assert seen and all(all(s) for s in seen)
    assert a.abs().max() > 0.1
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # float rounding only


# -- 3. torch.compile ------------------------------------------------------------------------
# On this CPU the tests compile with the "aot_eager" backend (torch's own kernels through the
# compiler's graph capture and autograd): inductor would compile C++ for minutes. The GPU check
# measures inductor.

def test_a_compiled_gan_step_gives_the_eager_numbers():
    p = get_preset("dcgan", "smoke")
    runs = {how: make_run(p.with_(compile=how), _images(), 0, "cpu") for how in ("off", "aot_eager")}
    outs = {how: [dcgan_step(r) for _ in range(2)] for how, r in runs.items()}
    for k in outs["off"][-1]:
        torch.testing.assert_close(outs["aot_eager"][-1][k], outs["off"][-1][k], rtol=1e-5, atol=1e-6)
    for a, b in zip(runs["off"].G.state_dict().values(), runs["aot_eager"].G.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert runs["off"].G.state_dict().keys() == runs["aot_eager"].G.state_dict().keys()  # checkpoints alike


def test_a_compiled_ddpm_step_gives_the_eager_numbers(tmp_path):
    x, y = _images(9, 16), np.arange(9) % 3
    got = {how: train_ddpm(x, y, tmp_path / how, preset("smoke", **TINY, steps=3, compile=how), 3, progress=False)
           for how in ("off", "aot_eager")}
    ha, hb = got["off"].history.frame, got["aot_eager"].history.frame
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-5)
    for a, b in zip(got["off"].model.state_dict().values(), got["aot_eager"].model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_network_is_compiled_once_per_process_and_reused():
    from torch._dynamo.utils import counters

    def fresh():
        torch.manual_seed(0)
        return compile_module(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh()), "aot_eager")

    x = torch.randn(4, 3)
    fresh()(x)
    before = counters["stats"]["unique_graphs"]
    assert before > 0  # the first network was compiled
    fresh()(x)  # the next run's network of the same class and shapes
    assert counters["stats"]["unique_graphs"] == before
    with pytest.raises(ValueError, match="compile"):
        compile_module(torch.nn.Linear(1, 1), "fast")
