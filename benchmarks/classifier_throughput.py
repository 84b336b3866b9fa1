"""Images per second of our classifier training (a fastai Learner fed by the course's data
path) against a plain reference loop (a DataLoader over a TensorDataset, the same network and
initialisation, Adam, cross-entropy, fp32). Both train the same number of epochs in this
process, alternately; the ratio ours / reference is printed (higher is better).

    python benchmarks/classifier_throughput.py                        # CPU, resnet18_small, 64 px
    python benchmarks/classifier_throughput.py --device cuda --arch resnet50 --size 128 --bf16 off
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.classify.engine import make_learner
from helpers.classify.models import build_model
from helpers.data.preprocess import imagenet_normalize


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


def ours(arch, x, y, epochs, bs, device, bf16=True):
    import pandas as pd

    from helpers.classify.data import make_dataloaders

    torch.manual_seed(0)
    table = pd.DataFrame(dict(path=[f"x{i}" for i in range(len(x))], label=y))
    dls = make_dataloaders(table, table.iloc[:bs], x.shape[-1], "none", bs, device=device, images=(x, x[:bs]))
    with tempfile.TemporaryDirectory() as d:
        learn = make_learner(dls, arch, 3, pretrained=False, path=d)
        if not bf16 and hasattr(learn, "mixed_precision"):
            learn.remove_cb(learn.mixed_precision)
        with learn.no_logging(), learn.no_bar():
            learn.fit(epochs, 1e-3)
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
    a = p.parse_args(argv)
    modes = a.bf16.split(",")
    if not set(modes) <= {"on", "off"}:
        p.error(f"--bf16 wants on, off or on,off; got {a.bf16!r}")
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = (rng.random((a.images, a.size, a.size)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, a.images).astype(np.int64)
    for m in modes:  # warm-up every path
        ours(a.arch, x[:64], y[:64], 1, a.batch, a.device, m == "on")
    reference(a.arch, x[:64], y[:64], 1, a.batch, a.device)
    t_o, c_o = {m: [] for m in modes}, {m: [] for m in modes}
    t_r, c_r = [], []
    for _ in range(a.repeats):  # alternate, so a busy neighbour slows both alike
        for m in modes:
            t, c = time.perf_counter(), time.process_time()
            ours(a.arch, x, y, a.epochs, a.batch, a.device, m == "on")
            t_o[m].append(time.perf_counter() - t)
            c_o[m].append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        reference(a.arch, x, y, a.epochs, a.batch, a.device)
        t_r.append(time.perf_counter() - t)
        c_r.append(time.process_time() - c)
    n = a.epochs * (a.images // a.batch) * a.batch
    r, cr = statistics.median(t_r), statistics.median(c_r)
    print(pd.Series(dict(device=a.device, arch=a.arch, size=a.size, batch=a.batch,
                         threads=torch.get_num_threads())).to_dict())
    for m in modes:
        o, co = statistics.median(t_o[m]), statistics.median(c_o[m])
        print(f"classifier {a.arch} (ours bf16 {m}): ours {n / o:8.1f} img/s   reference {n / r:8.1f} img/s   "
              f"ratio {r / o:.2f}"
              + (f"   (CPU time: ours {n / co:.1f} vs {n / cr:.1f} img/s, ratio {cr / co:.2f})"
                 if a.device == "cpu" else ""))

if __name__ == "__main__":
    main()
