"""DDPM throughput: our training loop and sampler vs a plain reference loop, same network.

Ours: `helpers.ddpm.pipeline.train_ddpm` (device-resident data, batches from a torch.Generator,
bf16 autocast and channels_last on CUDA, EMA update, checkpoints, history, grids) and
`helpers.ddpm.diffusion.sample` (conditional and unconditional halves of guidance in one
batched call, bf16 on CUDA). Reference: a DataLoader over a TensorDataset, fp32, no EMA or
checkpoints; guidance as two separate network calls per step. Also reports the measured
speed-up of DDIM-50 over DDPM-1000 (same model, same images, our sampler).

    python benchmarks/ddpm_throughput.py --profile quick --train-steps 40
    python benchmarks/ddpm_throughput.py --layout nchw,channels_last   # both layouts, same run

With --layout, our training loop is timed once per memory layout of the U-Net (the preset's
`layout`; its default "auto" is NCHW on CUDA, channels_last on the CPU), each against the same
plain loop, and the ratio of the two layouts is printed: the measurement that sets the default.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.config import pick_device
from helpers.ddpm.diffusion import Schedule, ddim_step, ddim_timesteps, q_sample, sample
from helpers.ddpm.pipeline import build_model, train_ddpm
from helpers.ddpm.presets import LAYOUTS, preset
from helpers.train.compiled import COMPILE


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def reference_train(x, y, p, size, n_classes, steps, device):
    """The plain loop: DataLoader batches copied to the device, fp32, nothing else."""
    torch.manual_seed(0)
    model = build_model(p, size, n_classes).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr)
    sched = Schedule.make(p.schedule, p.T)
    loader = DataLoader(TensorDataset(x[:, None], y), batch_size=p.batch, shuffle=True, drop_last=True)
    done, t0, c0 = 0, None, None
    while done < steps + 2:
        for xb, yb in loader:
            if done == 2:  # first two steps are warm-up (allocator, kernels)
                sync(device)
                t0, c0 = time.perf_counter(), time.process_time()
            xb, yb = xb.to(device), yb.to(device)
            t = torch.randint(0, p.T, (len(xb),), device=device)
            noise = torch.randn_like(xb)
            drop = torch.rand(len(xb), device=device) < p.p_uncond
            yb = torch.where(drop, torch.full_like(yb, n_classes), yb)
            loss = (model(q_sample(xb, t, noise, sched), t, yb) - noise).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps + 2:
                break
    sync(device)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0), model


@torch.no_grad()
def reference_sample(model, n, size, sched, steps, guidance, device, n_classes):
    """DDIM with guidance as two separate fp32 calls per step."""
    y = torch.arange(n, device=device) % n_classes
    null = torch.full_like(y, n_classes)
    x = torch.randn(n, 1, size, size, device=device)
    ts = ddim_timesteps(sched.T, steps)
    for i, t in enumerate(ts):
        tt = torch.full((n,), t, device=device)
        cond, uncond = model(x, tt, y), model(x, tt, null)
        eps = uncond + guidance * (cond - uncond)
        ab_prev = float(sched.alpha_bar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x = ddim_step(x, eps, float(sched.alpha_bar[t]), ab_prev)
    return x


def timed(fn, device):
    """(wall seconds, this process's CPU seconds): on a shared CPU the second is the steadier."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    ap.add_argument("--size", type=int, default=None, help="image size (default: 32 smoke, 64 quick, 128 paper)")
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--n-images", type=int, default=512, help="size of the synthetic training tensor")
    ap.add_argument("--sample-images", type=int, default=16)
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--ddpm-images", type=int, default=4, help="images for the DDPM-1000 vs DDIM-50 timing")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--layout", default=None,
                    help="comma-separated U-Net layouts to time our training with (nchw, channels_last, auto); "
                         "default: the preset's (auto)")
    ap.add_argument("--compile", default="off", choices=COMPILE, help="torch.compile our U-Net (the preset's `compile`)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device()
    size = args.size or {"smoke": 32, "quick": 64, "paper": 128}[args.profile]
    n_classes = 3
    # Tiny grids and rare checkpoints in "ours" keep the comparison about the loop itself;
    # the final checkpoint and the two grids are still inside the timed call.
    p = preset(args.profile, steps=args.train_steps + 2, checkpoint_every=max(args.train_steps, 1),
               sample_every=10**9, grid_per_class=1, ddim_steps=2, compile=args.compile)
    layouts = args.layout.split(",") if args.layout else [p.layout]
    bad = [lay for lay in layouts if lay not in LAYOUTS]
    if bad:
        ap.error(f"--layout: unknown {', '.join(bad)}; choose from {', '.join(LAYOUTS)}")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.n_images, size, size, generator=g) * 2 - 1
    y = torch.arange(args.n_images) % n_classes
    print(f"device={device} threads={torch.get_num_threads()} size={size} batch={p.batch} "
          f"net base={p.base} mults={p.mults} train steps={args.train_steps} compile={p.compile}")

    ref_sps, ref_cps, ref_model = reference_train(x, y, p, size, n_classes, args.train_steps, device)
    cpu = not str(device).startswith("cuda")
    speed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout in layouts:
            pl = p.with_(layout=layout)
            warm = preset(args.profile, steps=2, grid_per_class=1, ddim_steps=2, layout=layout, compile=args.compile)
            train_ddpm(x, y, f"{tmp}/warm-{layout}", warm, n_classes, device=device, progress=False)  # kernels
            run = f"{tmp}/run-{layout}"
            sec, csec = timed(lambda run=run, pl=pl: train_ddpm(x, y, run, pl, n_classes, device=device, progress=False),
                              device)
            trained = train_ddpm(x, y, run, pl, n_classes, device=device, progress=False)  # loads
            ours_sps, ours_cps = (args.train_steps + 2) / sec, (args.train_steps + 2) / csec
            speed[layout] = ours_sps
            print(f"training steps/s   ours ({layout}) {ours_sps:8.2f}   reference {ref_sps:8.2f}   "
                  f"ratio {ours_sps / ref_sps:.2f}" + (f"   (CPU time: ratio {ours_cps / ref_cps:.2f})" if cpu else ""))
    if len(speed) > 1:
        (a, sa), (b, sb) = list(speed.items())[:2]
        print(f"layout: {a} / {b} = {sa / sb:.2f} (above 1: {a} is faster)")

    sched, n = trained.sched, args.sample_images
    model = trained.model
    labels = torch.arange(n, device=device) % n_classes
    kw = dict(sched=sched, size=size, method="ddim", steps=args.ddim_steps, eta=0.0, guidance=2.0)
    sample(model, labels[:2], **{**kw, "steps": 2})  # warm-up
    ours, ours_c = timed(lambda: sample(model, labels, **kw, generator=torch.Generator(device=device).manual_seed(0)),
                         device)
    ref_model.eval()
    ref, ref_c = timed(lambda: reference_sample(ref_model, n, size, sched, args.ddim_steps, 2.0, device, n_classes),
                       device)
    print(f"sampling img/s (DDIM-{args.ddim_steps}, guidance 2)   ours {n / ours:8.2f}   reference {n / ref:8.2f}   "
          f"ratio {ref / ours:.2f}" + (f"   (CPU time: ratio {ref_c / ours_c:.2f})" if cpu else ""))

    m = args.ddpm_images
    lab = labels[:m]
    t_ddpm = timed(lambda: sample(model, lab, sched, size, method="ddpm", guidance=1.0), device)[0]
    t_ddim = timed(lambda: sample(model, lab, sched, size, method="ddim", steps=50, guidance=1.0), device)[0]
    print(f"DDPM-{sched.T}: {t_ddpm:.2f} s, DDIM-50: {t_ddim:.2f} s for {m} images -> "
          f"DDIM-50 is {t_ddpm / t_ddim:.1f}x faster")


if __name__ == "__main__":
    main()
