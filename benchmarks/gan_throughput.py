"""Images per second of our WGAN-GP and DCGAN training against a plain reference loop.

Ours: `helpers.gan` through the full `Trainer` (data held on the device as one tensor,
batches drawn by index, no gradient through G in critic steps, critic frozen during the
generator step, bf16 autocast + channels_last on CUDA; history, checkpoint and the NaN
guard included). Reference: the textbook loop, a DataLoader over a TensorDataset, fp32,
the same networks from the same initialisation. Both run in this process, alternately,
and the ratio ours / reference is printed (higher is better).

    python benchmarks/gan_throughput.py                  # CPU, 64 px, small nets
    python benchmarks/gan_throughput.py --device cuda --size 128 --width 64 --batch 64

img/s counts real images the discriminator sees per second (n_critic x batch per step).
On CPU the per-process CPU time is printed too: on a machine shared with other jobs it is
the steadier measure (wall time includes waiting for a core).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from helpers.config import resolve
from helpers.gan.core import build_nets, make_optimizer
from helpers.gan.pipeline import train_run
from helpers.gan.presets import DEFAULTS
from helpers.train.compiled import COMPILE


def reference_gp(D, real, fake):
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def reference(kind, preset, x, steps, device):
    """The plain loop: DataLoader, fp32, fresh noise each step, nothing frozen."""
    torch.manual_seed(0)
    G, D = build_nets(preset, x.shape[-1])
    G, D = G.to(device), D.to(device)
    opt_g, opt_d = make_optimizer(G.parameters(), preset, preset.lr_g), make_optimizer(D.parameters(), preset, preset.lr_d)
    loader = DataLoader(TensorDataset(x), batch_size=preset.batch, shuffle=True, drop_last=True)
    it = iter(loader)

    def next_batch():
        nonlocal it
        try:
            return next(it)[0].to(device)
        except StopIteration:
            it = iter(loader)
            return next(it)[0].to(device)

    for _ in range(steps):
        if kind == "wgan-gp":
            for _ in range(preset.n_critic):
                real = next_batch()
                fake = G(torch.randn(preset.batch, preset.latent, device=device)).detach()
                loss_d = D(fake).mean() - D(real).mean() + preset.gp_weight * reference_gp(D, real, fake)
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
            loss_g = -D(G(torch.randn(preset.batch, preset.latent, device=device))).mean()
        else:
            real = next_batch()
            fake = G(torch.randn(preset.batch, preset.latent, device=device))
            lr_, lf = D(real), D(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                      + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            out = D(fake)
            loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        float(loss_g.detach())  # the reference logs its loss too
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ours(kind, preset, x, steps, cfg):
    with tempfile.TemporaryDirectory() as d:
        train_run(kind, x, cfg, Path(d) / "run", steps=steps, progress=False, seed=0, preset=preset)
    if cfg.device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(f, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process). On a shared machine the CPU time is the
    steadier measure of our own work; on a GPU only the wall time means anything."""
    t, c = time.perf_counter(), time.process_time()
    f(*args)
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--images", type=int, default=437, help="training images (BUSI's largest class)")
    p.add_argument("--steps", type=int, default=0, help="generator steps per timing (default: by device)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (the machine is shared)")
    p.add_argument("--kinds", default="wgan-gp,dcgan")
    p.add_argument("--compile", default="off", choices=COMPILE,
                   help="torch.compile our networks (the presets' `compile`; the reference stays eager)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cpu = a.device == "cpu"
    cfg = resolve("quick", "phantom", "/nonexistent", tempfile.gettempdir(), device=a.device)
    x = torch.rand(a.images, 1, a.size, a.size) * 2 - 1
    print(f"device={a.device} size={a.size}px width={a.width} batch={a.batch} images={a.images} "
          f"threads={torch.get_num_threads()} torch={torch.__version__} compile={a.compile}")
    for kind in a.kinds.split(","):
        # the algorithm's own settings (n_critic 5 for WGAN-GP), small networks
        preset = DEFAULTS[kind].with_(batch=a.batch, g_width=a.width, d_width=a.width, ema=0.0,
                                      checkpoint_every=10**9, sample_every=10**9, compile=a.compile)
        # long enough that per-run costs (first and last sample grid, checkpoint) weigh as in a real run
        steps = a.steps or ((24 if kind == "wgan-gp" else 60) if cpu else (200 if kind == "wgan-gp" else 1000))
        per_step = preset.batch * (preset.n_critic if kind == "wgan-gp" else 1)
        ours(kind, preset, x, 2, cfg), reference(kind, preset, x, 2, a.device)  # warm-up
        t_ours, t_ref = [], []
        for _ in range(a.repeats):  # alternate, so a busy neighbour slows both alike
            t_ours.append(timed(ours, kind, preset, x, steps, cfg))
            t_ref.append(timed(reference, kind, preset, x, steps, a.device))
        n = steps * per_step
        wall_o, wall_r = (statistics.median(t[0] for t in ts) for ts in (t_ours, t_ref))
        cpu_o, cpu_r = (statistics.median(t[1] for t in ts) for ts in (t_ours, t_ref))
        print(f"{kind:8s} steps={steps} n_critic={preset.n_critic if kind == 'wgan-gp' else 1}: "
              f"ours {n / wall_o:8.1f} img/s   reference {n / wall_r:8.1f} img/s   ratio {wall_r / wall_o:.2f}"
              + (f"   (CPU time: ours {n / cpu_o:.1f} vs {n / cpu_r:.1f} img/s, ratio {cpu_r / cpu_o:.2f})"
                 if cpu else ""))

if __name__ == "__main__":
    main()
