"""The classifiers' GPU path, shown on the CPU: fastai's Adam in multi-tensor steps gives
fastai's numbers, batched augmentation equals the per-image one, checkpoints every few epochs
still resume exactly, a compiled step equals the eager one and is compiled once, and several
runs share a GPU from either executor."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.classify.data import make_dataloaders
from helpers.classify.engine import load_fastai, make_learner
from helpers.classify.models import AlexNetStyle
from helpers.classify.optim import ForeachAdam, adam
from helpers.config import seed_everything
from helpers.errors import SettingError


def _images(n=48, size=24, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, size, size)) * 255).astype(np.uint8), rng.integers(0, 3, n).astype(np.int64)


# -- 1. the optimizer ------------------------------------------------------------------
def test_foreach_adam_is_fastais_adam_bit_for_bit():
    """Scheduled lr and momentum, weight decay skipped for some tensors: equal weights (tolerance 0)."""
    from fastai.optimizer import Adam

    torch.manual_seed(0)
    m1 = AlexNetStyle(3, width=0.125)
    m2 = copy.deepcopy(m1)
    o1, o2 = Adam(list(m1.parameters()), lr=1e-2, wd=1e-2), ForeachAdam(list(m2.parameters()), lr=1e-2, wd=1e-2)
    for o, m in ((o1, m1), (o2, m2)):
        for p in list(m.parameters())[:4]:
            o.state[p]["do_wd"] = False
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 3, (8,))
    for i in range(6):
        for o, m in ((o1, m1), (o2, m2)):
            o.set_hypers(mom=0.95 - 0.02 * i, lr=1e-2 * (i + 1))
            torch.manual_seed(i)  # the same dropout masks
            torch.nn.functional.cross_entropy(m(x), y).backward()
            o.step()
            o.zero_grad()
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert all(torch.equal(o1.state[p]["sqr_avg"], o2.state[q]["sqr_avg"])
               for p, q in zip(m1.parameters(), m2.parameters()))
    assert [o1.state[p]["step"] for p in m1.parameters()] == [o2.state[p]["step"] for p in m2.parameters()] == [6] * len(list(m1.parameters()))


def _fit(optimizer: str, epochs=2):
    load_fastai()
    x, y = _images()
    table = pd.DataFrame(dict(path=[f"x{i}" for i in range(len(x))], label=y))
    seed_everything(0)
    dls = make_dataloaders(table, table.iloc[:16], 24, "none", 8, images=(x, x[:16]))
    learn = make_learner(dls, "tiny", 3, pretrained=False, optimizer=optimizer)
    with learn.no_logging(), learn.no_bar():
        learn.fit_one_cycle(epochs, 3e-3)
    return learn


def test_the_learner_with_one_cycle_trains_the_same_with_either_optimizer():
    a, b = _fit("fastai"), _fit("foreach")
    assert type(b.opt) is ForeachAdam and type(a.opt) is not ForeachAdam
    for (k, w), v in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(w, v), k
    # the same checkpoint format: one loads into the other
    b.opt.load_state_dict(a.opt.state_dict())
    with pytest.raises(SettingError, match="Unknown optimizer"):
        adam("sgd")


# -- 3. checkpoints every few epochs -----------------------------------------------------
def test_checkpoints_every_few_epochs_resume_exactly(smoke_cfg, tmp_path, monkeypatch):
    import json

    from test_classify_resume import EPOCHS, _interrupt_at

    from helpers.classify import grid, resume, settings
    from helpers.classify.data import plain
    from helpers.classify.presets import PRESETS
    from helpers.prepare import load_prepared

    assert EPOCHS == 4
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    setting = settings.Setting.parse("real+trad", "busi_study")  # random draws every batch

    def train(folder, every):
        preset = PRESETS["smoke"].with_(epochs=EPOCHS, bs=8, checkpoint_every=every)
        return grid.train_run(smoke_cfg, "tiny", setting, 0, 0, records, preset, folder, None)

    train(tmp_path / "whole", None)  # every epoch on the CPU
    saved, real_save = [], resume.atomic_save
    monkeypatch.setattr(resume, "atomic_save", lambda state, path: (saved.append(state["epochs_done"]),
                                                                     real_save(state, path)))
    _interrupt_at(monkeypatch, 3, 1)  # in the fourth epoch: the last checkpoint is epoch 2's
    folder = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(folder, 2)
    assert saved == [2] and json.loads((folder / "checkpoint.json").read_text()) == {"epochs_done": 2}
    assert len(pd.read_csv(folder / "history.csv")) == 3  # epoch 3 logged, not saved
    train(folder, 2)
    assert saved == [2, 4]  # epochs 3 and 4 trained again; the last one always saved
    for name in ("preds.csv", "history.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(folder / name), pd.read_csv(tmp_path / "whole" / name),
                                      check_exact=True)
    assert resume.checkpoint_interval(None, "cpu") == 1 and resume.checkpoint_interval(None, "cuda") == resume.GPU_EVERY
    assert resume.checkpoint_interval(3, "cuda") == 3


# -- 2. batched augmentation -------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ["mild", "busi_study", "cwgan_study"])
def test_batched_augmentation_equals_torchvision_per_image(name, channels):
    """Given the same per-image parameters, the batch equals torchvision image by image (exactly)."""
    from helpers.data.augment import BatchAugment, apply_one, draw

    torch.manual_seed(1)
    x = (torch.rand(48, channels, 40, 36) * 255).to(torch.uint8)
    params = draw(name, len(x), 40, 36, torch.Generator().manual_seed(0))
    got = BatchAugment(name)(x, params)
    want = torch.stack([apply_one(name, x[i], params, i) for i in range(len(x))])
    assert got.dtype == torch.uint8 and torch.equal(got, want)
    assert not torch.equal(got, x)


def test_batched_draws_keep_each_policys_meaning():
    from torchvision.transforms import v2

    from helpers.data.augment import _steps, draw, policy

    n, g = 4000, torch.Generator().manual_seed(0)
    busi = draw("busi_study", n, 64, 64, g)  # flip, brightness 0.2, scaling 0.9-1.1, zoom 1-1.3 half the time
    assert [k for k, _, _ in _steps("busi_study")] == ["hflip", "jitter", "affine", "affine"]
    assert abs(busi[0]["on"].float().mean() - 0.5) < 0.03 and busi[1]["on"].all() and busi[2]["on"].all()
    assert abs(busi[3]["on"].float().mean() - 0.5) < 0.03
    b = busi[1]["brightness"]
    assert 0.8 <= b.min() < 0.81 and 1.19 < b.max() <= 1.2 and (busi[1]["contrast"] == 1).all()
    s, z = busi[2]["scale"], busi[3]["scale"]
    assert 0.9 <= s.min() < 0.91 and 1.09 < s.max() <= 1.1 and 1.0 <= z.min() < 1.01 and 1.29 < z.max() <= 1.3
    assert (busi[2]["angle"] == 0).all() and (busi[2]["tx"] == 0).all()
    cw = draw("cwgan_study", n, 64, 50, g)  # rotation 95, shift 0.4, shear 0.5, both flips
    a = cw[0]
    assert -95 <= a["angle"].min() < -94 and 94 < a["angle"].max() <= 95
    assert a["tx"].abs().max() == round(0.4 * 50) and a["ty"].abs().max() == round(0.4 * 64)
    assert torch.equal(a["tx"], a["tx"].round()) and a["shear_x"].abs().max() <= 0.5 and (a["shear_y"] == 0).all()
    assert [k for k, _, _ in _steps("cwgan_study")] == ["affine", "hflip", "vflip"]
    mild = draw("mild", n, 64, 64, g)[2]
    assert (mild["brightness_first"].float().mean() - 0.5).abs() < 0.03 and 0.9 <= mild["contrast"].min()
    assert isinstance(policy("mild").transforms[2], v2.ColorJitter)


def test_the_dataset_augments_whole_batches_as_the_policy_does_image_by_image():
    from helpers.classify.data import GrayImages
    from helpers.data.augment import BatchAugment, apply_one, draw, policy
    from helpers.data.preprocess import imagenet_normalize

    x, y = _images(20, 32)
    ds = GrayImages(x, y, policy("busi_study"), "cpu", BatchAugment("busi_study", torch.Generator().manual_seed(3)))
    idx = torch.tensor([4, 0, 17, 9, 9, 2])
    got, labels = ds.batch(idx)
    params = draw("busi_study", len(idx), 32, 32, torch.Generator().manual_seed(3))
    one = torch.stack([apply_one("busi_study", torch.from_numpy(x[int(i)])[None], params, k) for k, i in enumerate(idx)])
    assert torch.equal(got, torch.from_numpy(imagenet_normalize(one[:, 0].numpy())))
    assert torch.equal(labels, torch.from_numpy(y[idx.numpy()]))
    assert GrayImages(x, y, None, "cpu", BatchAugment("busi_study")).batch_augment is None  # evaluation: never


# -- 4. torch.compile --------------------------------------------------------------------
def test_the_compiled_training_step_equals_the_eager_one_and_is_compiled_once():
    """backend "aot_eager" (torch's graph capture and autograd, without inductor's code
    generation, which takes about 40 s for this model on a 2-core CPU and draws dropout's masks
    from its own generator): the same weights after training, tolerance 0; a second run of the
    same architecture, a new network, compiles nothing."""
    from torch._dynamo.utils import counters

    from helpers.classify.compiled import _COMPILED, use_compile

    def fit(compile):
        load_fastai()
        x, y = _images()
        table = pd.DataFrame(dict(path=[f"x{i}" for i in range(len(x))], label=y))
        seed_everything(0)
        dls = make_dataloaders(table, table.iloc[:16], 24, "busi_study", 8, images=(x, x[:16]))
        learn = make_learner(dls, "tiny", 3, pretrained=False, compile=compile)
        with learn.no_logging(), learn.no_bar():
            learn.fit_one_cycle(2, 3e-3)
            probs, _ = learn.get_preds(dl=dls.valid)
        return learn, probs

    eager, p_eager = fit(False)
    graphs = counters["stats"]["unique_graphs"]
    compiled, p_comp = fit("aot_eager")
    assert counters["stats"]["unique_graphs"] > graphs, "nothing was compiled"
    graphs = counters["stats"]["unique_graphs"]
    again, p_again = fit("aot_eager")
    assert counters["stats"]["unique_graphs"] == graphs, "the second run compiled again"
    assert again.model is not compiled.model and len([k for k in _COMPILED if k[1] == "aot_eager"]) == 1
    for (k, w), v, u in zip(eager.model.state_dict().items(), compiled.model.state_dict().values(),
                            again.model.state_dict().values()):
        assert torch.equal(w, v) and torch.equal(w, u), k
    assert torch.equal(p_eager, p_comp) and torch.equal(p_eager, p_again)
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())  # checkpoints see the plain model
    assert not use_compile(None, "cpu") and use_compile(None, "cuda:0") and not use_compile(False, "cuda")


# -- 5. several runs per GPU -------------------------------------------------------------
def test_the_local_executor_packs_runs_on_a_gpu_and_keeps_the_cpu_layout(smoke_cfg):
    import dataclasses

    from helpers.classify import grid
    from helpers.classify.presets import PRESETS
    from helpers.parallel.jobs import CORES, RUNS_PER_GPU

    gpu = dataclasses.replace(smoke_cfg, device="cuda")
    b = grid._backend(gpu, PRESETS["paper"], "local", 40, {})
    assert (b.kind, b.workers, b.threads) == ("processes", RUNS_PER_GPU, max(1, CORES // RUNS_PER_GPU))
    assert grid._backend(gpu, PRESETS["paper"].with_(workers=2), "local", 40, {}).workers == 2
    assert grid._backend(gpu, PRESETS["paper"], "local", 1, {}).kind == "inline"
    assert grid._backend(gpu, PRESETS["paper"].with_(workers=1), "local", 40, {}).kind == "inline"
    # on the CPU, as before: the quick profile's side-by-side processes of one thread, smoke inline
    assert grid._backend(smoke_cfg, PRESETS["smoke"], "local", 4, {}).kind == "inline"
    q = grid._backend(smoke_cfg, PRESETS["quick"].with_(workers=2), "local", 4, {})
    assert (q.kind, q.workers, q.threads) == ("processes", 2, 1)


def _device_of(cfg, tag):
    return cfg.device, tag


def test_a_ray_task_trains_on_the_device_its_worker_was_given(smoke_cfg, monkeypatch):
    """The driver's settings say one device; the task's GPU share decides (no Ray started)."""
    import dataclasses

    pytest.importorskip("ray")
    import ray

    from helpers.parallel import ray_tasks

    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [0])
    assert ray_tasks._task(_device_of, False, None, ("tag",), smoke_cfg, 7) == ("cuda", 7)  # a CPU-only head
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    cuda = dataclasses.replace(smoke_cfg, device="cuda")
    assert ray_tasks._task(_device_of, False, None, (), cuda, "x") == ("cpu", "x")
    assert ray_tasks.on_device("cuda", "cpu") == "cuda"  # only settings objects change


def _pid_and_device(cfg, i):
    import os

    return os.getpid(), cfg.device


def test_ray_gpu_tasks_reuse_their_workers(smoke_cfg, monkeypatch):
    """A local Ray that declares one GPU (none is needed to schedule on it): six quarter-GPU
    tasks on two CPUs run in fewer than six workers, each on "cuda" though the driver said "cpu"."""
    import sys

    pytest.importorskip("ray")
    import ray
    import ray.cloudpickle

    from helpers import parallel

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert smoke_cfg.device == "cpu"
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        out = parallel.run([parallel.task(_pid_and_device, smoke_cfg, i) for i in range(6)], parallel.Backend("ray"))
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()
    assert [d for _, d in out] == ["cuda"] * 6
    assert len({pid for pid, _ in out}) < 6, "a fresh worker per task"
