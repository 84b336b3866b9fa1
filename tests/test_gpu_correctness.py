"""Correct on a GPU, shown on the CPU: the device is part of a run's recorded settings; a
checkpoint written on a GPU (its generator states those of CUDA) is used on a CPU without a raw
RuntimeError; the CUDA RNG state is saved and restored with the CPU's."""

from __future__ import annotations

import numpy as np
import torch

from helpers.ddpm.pipeline import load_trained, train_ddpm
from helpers.ddpm.presets import preset
from helpers.gan.pipeline import train_run
from helpers.train.loop import CHECKPOINT, Trainer
from helpers.train.rng import reseed_from, restore_generator

TINY = dict(base=4, mults=(1, 2), batch=4, lr=1e-3, warmup=2, checkpoint_every=2, sample_every=100,
            grid_per_class=1, ddim_steps=2, ema_decay=0.9)
CUDA_STATE = torch.arange(16, dtype=torch.uint8)  # what a CUDA generator's get_state() gives: Philox seed + offset


def _data(n=9, size=16):
    return (np.random.default_rng(0).random((n, size, size)) * 255).astype(np.uint8), np.arange(n) % 3


def _as_if_written_on_a_gpu(path, names=("rng",)):
    ck = torch.load(path, weights_only=True)
    for name in names:
        if name == "rng":
            ck["rng"] = CUDA_STATE.clone()
        else:
            ck["rngs"][name] = CUDA_STATE.clone()
        ck["rng_devices"][name] = "cuda"
    ck["config"]["device"] = "cuda:0 (NVIDIA H100 80GB HBM3)"
    torch.save(ck, path)


def test_the_device_is_recorded_in_a_runs_settings(tmp_path, smoke_cfg):
    x, y = _data()
    train_ddpm(x, y, tmp_path / "ddpm", preset("smoke", **TINY, steps=2), 3, progress=False)
    ck = torch.load(tmp_path / "ddpm" / CHECKPOINT, weights_only=True)
    assert ck["config"]["device"] == "cpu" and ck["rng_devices"] == {"rng": "cpu"}
    h = train_run("wgan", _data(12, 32)[0], smoke_cfg, tmp_path / "gan", steps=1, progress=False, seed=0)
    assert torch.load(h.checkpoint, weights_only=True)["config"]["device"] == "cpu"


def test_a_ddpm_trained_on_a_gpu_is_loaded_and_resumed_on_the_cpu(tmp_path, capsys):
    x, y = _data()
    done = tmp_path / "done"
    train_ddpm(x, y, done, preset("smoke", **TINY, steps=2), 3, progress=False)
    _as_if_written_on_a_gpu(done / CHECKPOINT)
    again = train_ddpm(x, y, done, preset("smoke", **TINY, steps=2), 3, progress=False)  # finished: loaded
    assert again.history.resumed_from == 2 and "note" not in capsys.readouterr().out
    assert load_trained(done).generate(1, 2, seed=0).shape == (2, 1, 16, 16)

    ends = []
    for name in ("a", "b"):  # the same GPU checkpoint resumed twice on the CPU: the same run
        folder = tmp_path / name
        train_ddpm(x, y, folder, preset("smoke", **TINY, steps=2), 3, progress=False)
        _as_if_written_on_a_gpu(folder / CHECKPOINT)
        ends.append(train_ddpm(x, y, folder, preset("smoke", **TINY, steps=4), 3, progress=False))
        out = capsys.readouterr().out
        assert "was written on cuda:0 (NVIDIA H100 80GB HBM3)" in out and "re-seeded" in out
    assert ends[0].history.steps == 4
    assert all(torch.equal(u, v) for u, v in zip(ends[0].model.state_dict().values(), ends[1].model.state_dict().values()))


def test_a_gan_whose_dropout_stream_was_on_a_gpu_resumes_on_the_cpu(tmp_path, smoke_cfg):
    x, _ = _data(12, 32)
    run = dict(steps=2, progress=False, seed=0, dropout=0.2)
    h = train_run("wgan-gp", x, smoke_cfg, tmp_path, **run)
    assert "dropout" in torch.load(h.checkpoint, weights_only=True)["rngs"]
    _as_if_written_on_a_gpu(h.checkpoint, names=("dropout",))
    h = train_run("wgan-gp", x, smoke_cfg, tmp_path, **{**run, "steps": 4})
    assert h.resumed_from == 2 and h.steps == 4


def test_an_old_checkpoint_without_devices_is_re_seeded_not_refused():
    g = torch.Generator()
    assert restore_generator(g, CUDA_STATE, None) is False  # a CUDA state the CPU generator refuses
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(
        reseed_from(CUDA_STATE))))
    state = torch.Generator().manual_seed(5).get_state()
    assert restore_generator(g, state, None) is True and torch.equal(g.get_state(), state)


def _trainer(tmp_path):
    model = torch.nn.Linear(2, 1)
    return Trainer(tmp_path, 4, {"model": model}, {"opt": torch.optim.SGD(model.parameters(), lr=0.1)},
                   torch.Generator().manual_seed(0), checkpoint_every=2, progress=False)


def test_the_cuda_rng_state_is_saved_and_restored_with_the_cpus(tmp_path, monkeypatch):
    gpu = {"state": [torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3, 4], dtype=torch.uint8)]}
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [s.clone() for s in gpu["state"]])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append([s.clone() for s in states]))
    trainer = _trainer(tmp_path)
    trainer.save(2)
    ck = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert [s.tolist() for s in ck["cuda_rng"]] == [[1, 2], [3, 4]] and "torch_rng" in ck
    gpu["state"] = [torch.tensor([9, 9], dtype=torch.uint8)] * 2  # the GPUs drew on since
    assert _trainer(tmp_path).resume() == 2
    assert [[s.tolist() for s in r] for r in restored] == [[[1, 2], [3, 4]]]
    restored.clear()
    trainer.sample_fn = lambda step: gpu.update(state=[torch.tensor([7, 7], dtype=torch.uint8)] * 2)
    trainer.save_samples(3)  # drawing a grid leaves the GPU streams as they were
    assert [[s.tolist() for s in r] for r in restored] == [[[9, 9], [9, 9]]]


def test_without_cuda_no_gpu_state_is_written(tmp_path):
    _trainer(tmp_path).save(2)
    assert "cuda_rng" not in torch.load(tmp_path / CHECKPOINT, weights_only=True)


def test_the_penalty_under_bf16_differs_from_fp32_only_by_rounding():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from penalty_precision import penalties

    from helpers.gan.core import build_nets
    from helpers.gan.presets import get_preset

    torch.manual_seed(0)
    G, D = build_nets(get_preset("wgan-gp", "smoke"), 32)
    real, alpha = torch.rand(8, 1, 32, 32) * 2 - 1, torch.rand(8, 1, 1, 1)
    with torch.no_grad():
        fake = G(torch.randn(8, G.latent))
    r = penalties(D, real, fake, alpha, "cpu")
    (gp32, n32), (gp16, n16) = r["fp32"], r["bf16"]
    assert gp16 != gp32  # bf16 was used
    assert abs(gp16 - gp32) <= 1e-2 * abs(gp32) and abs(n16 - n32) <= 1e-2 * abs(n32)
