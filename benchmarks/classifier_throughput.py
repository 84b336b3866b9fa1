"""Images per second of our classifier training (a fastai Learner fed by the course's data
path) against a plain reference loop (a DataLoader over a TensorDataset, the same network and
initialisation, Adam, cross-entropy, fp32). Both train the same number of epochs in this
process, alternately; the ratio ours / reference is printed (higher is better).

Ours is the training path as the course runs it (fastai's Adam in multi-tensor steps, bf16 on
CUDA, the training forward compiled on CUDA, batched augmentation); each switch can be
set, or listed to time every value against the same reference: --bf16 on,off, --optimizer
foreach,fastai, --compile on,off, --augment busi_study --batched-augment on,off (the reference
never augments), --checkpoint-every 0,1,5 (a checkpoint every n epochs; 0: none).

    python benchmarks/classifier_throughput.py                        # CPU, resnet18_small, 64 px
    python benchmarks/classifier_throughput.py --device cuda --arch resnet50 --size 128 --bf16 off
    python benchmarks/classifier_throughput.py --device cuda --arch densenet201 --size 128 --optimizer foreach,fastai \
        --compile on,off
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.classify.data import make_dataloaders
from helpers.classify.engine import make_learner
from helpers.classify.models import build_model
from helpers.classify.resume import EpochCheckpoint
from helpers.data.preprocess import imagenet_normalize

SWITCHES = {  # option -> (what `ours` is called with for each value, the default)
    "bf16": ({"on": True, "off": False}, "on"),
    "optimizer": ({"foreach": "foreach", "fastai": "fastai"}, "foreach"),
    "compile": ({"auto": None, "on": True, "off": False}, "auto"),
    "batched_augment": ({"on": True, "off": False}, "on"),
}


def reference(arch, x, y, epochs, bs, device):
    torch.manual_seed(0)
    model, _ = build_model(arch, 3, pretrained=False)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(imagenet_normalize(x)), torch.from_numpy(y)), batch_size=bs,
                        shuffle=True, drop_last=True)
    for _ in range(epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out.logits if hasattr(out, "logits") else out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def ours(arch, x, y, epochs, bs, device, bf16=True, optimizer="foreach", compile=None, augment="none",
         batched=None, checkpoint_every=0):
    torch.manual_seed(0)
    table = pd.DataFrame(dict(path=[f"x{i}" for i in range(len(x))], label=y))
    dls = make_dataloaders(table, table.iloc[:bs], x.shape[-1], augment, bs, device=device, images=(x, x[:bs]),
                           batched_augment=batched)
    with tempfile.TemporaryDirectory() as d:
        learn = make_learner(dls, arch, 3, pretrained=False, path=d, optimizer=optimizer, compile=compile)
        if not bf16 and hasattr(learn, "mixed_precision"):
            learn.remove_cb(learn.mixed_precision)
        cbs = [EpochCheckpoint(d, {}, every=checkpoint_every)] if checkpoint_every else []
        with learn.no_logging(), learn.no_bar():
            learn.fit(epochs, 1e-3, cbs=cbs)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--arch", default="resnet18_small")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", default="on",
                   help="ours on CUDA: bf16 autocast on, off, or both (on,off: one reference timing for both)")
    p.add_argument("--optimizer", default="foreach", help="ours: foreach, fastai, or both (foreach,fastai)")
    p.add_argument("--compile", default="auto",
                   help="ours: the training forward through torch.compile: on, off, auto (on CUDA), or a list (on,off)")
    p.add_argument("--augment", default="none", help="ours: the augmentation policy (helpers.data.augment.POLICIES)")
    p.add_argument("--batched-augment", default="on",
                   help="ours: augment whole batches on the device (the course's way): on, off, or a list (on,off)")
    p.add_argument("--checkpoint-every", default="0",
                   help="ours: a checkpoint every n epochs (0: none), or a list (0,1,5)")
    a = p.parse_args(argv)
    choices = {}
    for name, (values, _) in SWITCHES.items():
        choices[name] = getattr(a, name).split(",")
        if not set(choices[name]) <= set(values):
            p.error(f"--{name.replace('_', '-')} wants {', '.join(values)} or a list of them; got {getattr(a, name)!r}")
    choices["checkpoint_every"] = [int(v) for v in a.checkpoint_every.split(",")]
    variants = [dict(zip(choices, combo)) for combo in itertools.product(*choices.values())]
    defaults = {k: d for k, (_, d) in SWITCHES.items()} | {"checkpoint_every": 0}
    named = [k for k, v in choices.items() if k != "bf16" and (len(v) > 1 or v[0] != defaults[k])]

    def label(v):
        return ", ".join([f"bf16 {v['bf16']}"] + [f"{k.replace('_', ' ')} {v[k]}" for k in named if k != "bf16"])

    def call(v, xs, ys, epochs):
        kw = {k: SWITCHES[k][0][v[k]] for k in SWITCHES}
        ours(a.arch, xs, ys, epochs, a.batch, a.device, kw["bf16"], kw["optimizer"], kw["compile"], a.augment,
             kw["batched_augment"], v["checkpoint_every"])

    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = (rng.random((a.images, a.size, a.size)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, a.images).astype(np.int64)
    for v in variants:  # warm-up every path (and compile once per architecture)
        call(v, x[:64], y[:64], 1)
    reference(a.arch, x[:64], y[:64], 1, a.batch, a.device)
    t_o, c_o = [[] for _ in variants], [[] for _ in variants]
    t_r, c_r = [], []
    for _ in range(a.repeats):  # alternate, so a busy neighbour slows both alike
        for i, v in enumerate(variants):
            t, c = time.perf_counter(), time.process_time()
            call(v, x, y, a.epochs)
            t_o[i].append(time.perf_counter() - t)
            c_o[i].append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        reference(a.arch, x, y, a.epochs, a.batch, a.device)
        t_r.append(time.perf_counter() - t)
        c_r.append(time.process_time() - c)
    n = a.epochs * (a.images // a.batch) * a.batch
    r, cr = statistics.median(t_r), statistics.median(c_r)
    print(pd.Series(dict(device=a.device, arch=a.arch, size=a.size, batch=a.batch, augment=a.augment,
                         threads=torch.get_num_threads())).to_dict())
    for i, v in enumerate(variants):
        o, co = statistics.median(t_o[i]), statistics.median(c_o[i])
        print(f"classifier {a.arch} (ours {label(v)}): ours {n / o:8.1f} img/s   reference {n / r:8.1f} img/s   "
              f"ratio {r / o:.2f}"
              + (f"   (CPU time: ours {n / co:.1f} vs {n / cr:.1f} img/s, ratio {cr / co:.2f})"
                 if a.device == "cpu" else ""))


if __name__ == "__main__":
    main()
