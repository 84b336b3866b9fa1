"""What a grid will cost, before it runs: `python -m helpers classify --plan`.

The cost of a run is dominated by its training batches, so the plan times a few real
training steps (forward, backward, optimizer) of each architecture at the grid's batch size
and image size on this machine's device, and one training step of each generator preset, then
multiplies by what the grid will run:

    run       = epochs x ceil(n_train / batch) x t_batch x (1 + evaluation share)
    generator = steps x t_step x (models per fold: one per class for the per-class GANs)

The projected wall time divides the total by the workers that run at once: CPU cores / CPUs
per run, or GPUs x runs per GPU (packed runs keep 75 % of their speed, as measured).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from helpers.classify.grid import recipe
from helpers.classify.models import build_model
from helpers.classify.settings import SPLIT, parts
from helpers.ddpm.diffusion import Schedule
from helpers.ddpm.pipeline import build_model as build_ddpm
from helpers.ddpm.presets import preset as ddpm_preset
from helpers.ddpm.steps import diffusion_loss
from helpers.flow.presets import preset as flow_preset
from helpers.flow.steps import flow_matching_loss
from helpers.gan.core import make_run
from helpers.gan.presets import get_preset
from helpers.gan.steps import cwgan_step, dcgan_step, wgan_step
from helpers.train.loop import autocast

EVAL_SHARE = 0.1  # evaluating a fold's test images, relative to one training epoch
# Per-run speed when 4 runs share a GPU: 8 ResNet18 runs ran 2.98x faster 4 at a time than
# one at a time on an H200 (benchmarks/ray_packing.py), i.e. each at 0.75 of its speed alone.
PACKING_EFFICIENCY = 0.75
CLUSTER_GPUS = 4  # a GPU plan also projects the wall time on this many such GPUs


def _seconds(step, device, repeats: int = 3) -> float:
    """Median seconds of `step()` over `repeats` calls, after one that pays for allocation and
    kernel selection."""
    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        step()
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        if r:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_batch(arch: str, n_classes: int, size: int, batch: int, device: str, repeats: int = 3) -> float:
    """Seconds per training batch of `arch`."""
    torch.manual_seed(0)
    model, _ = build_model(arch, n_classes, pretrained=False)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, n_classes, (batch,), device=device)

    def step():
        with autocast(device):
            out = model(x)
            out = out.logits if hasattr(out, "logits") else out
            loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return _seconds(step, device, repeats)


# On a CPU a paper preset's full batch can need more memory than the machine has (the paper
# DDPM's batch of 64 at 128 px took over 23 GB): its step is timed on at most this many images
# and scaled by batch / timed (a step's cost grows about linearly with its batch).
CPU_TIMING_BATCH = 8


def time_generator_step(name: str, cfg, n_classes: int) -> float:
    """Seconds per training step of generator `name`'s preset for this profile (one model)."""
    cpu = not str(cfg.device).startswith("cuda")
    if name in ("ddpm", "flow"):  # the same U-Net; flow matching (beyond the studies) another loss
        p = full = ddpm_preset(cfg.profile) if name == "ddpm" else flow_preset(cfg.profile)
        timed = min(p.batch, CPU_TIMING_BATCH) if cpu else p.batch
        torch.manual_seed(0)
        model = build_ddpm(p, cfg.size, n_classes).to(cfg.device)
        opt = torch.optim.AdamW(model.parameters(), lr=p.lr)
        sched = Schedule.make(p.schedule, p.T) if name == "ddpm" else None
        x = torch.randn(timed, 1, cfg.size, cfg.size, device=cfg.device)
        y = torch.randint(0, n_classes, (timed,), device=cfg.device)
        g = torch.Generator(device=cfg.device).manual_seed(0)

        def step():
            if name == "ddpm":
                loss = diffusion_loss(model, x, y, sched, g, p.objective, None, p.p_uncond, p.min_snr)
            else:
                loss = flow_matching_loss(model, x, y, g, None, p.p_uncond)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        full = get_preset(name, cfg.profile, dataset=cfg.dataset)
        p = replace(full, batch=CPU_TIMING_BATCH) if cpu and full.batch > CPU_TIMING_BATCH else full
        timed = p.batch
        rgb = (3,) if cfg.channels == 3 else ()  # time the step on images like the data's
        x = (np.random.default_rng(0).random((max(p.batch, 8), cfg.size, cfg.size) + rgb) * 255).astype(np.uint8)
        labels = np.arange(len(x)) % n_classes if name == "cwgan" else None
        run = make_run(p, x, 0, cfg.device, labels=labels, n_classes=n_classes if labels is not None else 0)
        fn = {"cwgan": cwgan_step, "dcgan": dcgan_step}.get(name, wgan_step)

        def step():
            fn(run)
    return _seconds(step, cfg.device, 2) * full.batch / timed


def _n_train(records, fold, setting, classes) -> int:
    """Training images of a run: the fold's real training part plus its synthetic images
    (a balancing set tops every class up to the largest, + 50 for the WGAN-family presets)."""
    train, _ = parts(records, fold)
    n = len(train)
    if setting.generator:
        counts = train["class_name"].value_counts()
        if setting.per_class:
            n += setting.per_class * (len(classes) - 1)
        else:
            extra = 0 if setting.generator.startswith(("dcgan", "ddpm", "flow")) else 50
            n += int(sum(counts.max() + extra - counts.get(c, 0) for c in classes))
    return n


def make_plan(cfg, records: pd.DataFrame, runs: list[tuple], preset: dict, workers: int | None = None,
              cpus_per_run: int = 1, runs_per_gpu: int = 4, progress: bool = True) -> dict:
    """{'runs': per-run table, 'generators': per-(generator, fold) table, 'summary': dict}."""
    classes = cfg.classes
    t_batch = {}
    for arch in dict.fromkeys(r[0] for r in runs):
        bs = recipe(arch, preset).bs
        if progress:
            print(f"timing {arch} (batch {bs}, {cfg.size} px, {cfg.device}) ...", flush=True)
        t_batch[arch] = (time_batch(arch, len(classes), cfg.size, bs, cfg.device), bs)
    rows = []
    for arch, setting, fold, seed in runs:
        epochs = recipe(arch, preset).epochs
        t, bs = t_batch[arch]
        n = _n_train(records, fold, setting, classes)
        sec = epochs * math.ceil(n / bs) * t * (1 + EVAL_SHARE)
        rows.append(dict(arch=arch, setting=setting.name, fold=fold, seed=seed, n_train=n, epochs=epochs,
                         sec_per_batch=t, seconds=sec))
    table = pd.DataFrame(rows)
    gen_rows, t_step = [], {}
    for gen, fold in dict.fromkeys((c[1].generator, c[2]) for c in runs if c[1].generator):
        kind = gen.split("-fold")[0]
        if kind not in t_step:
            if progress:
                print(f"timing one {kind} step ...", flush=True)
            t_step[kind] = time_generator_step(kind, cfg, len(classes))
        if kind in ("ddpm", "flow"):
            steps, models = (ddpm_preset if kind == "ddpm" else flow_preset)(cfg.profile).steps, 1
        else:
            steps = preset.gen_steps or get_preset(kind, cfg.profile, dataset=cfg.dataset).steps
            models = 1 if kind == "cwgan" else (len(classes) - 1 if kind == "dcgan" else len(classes))
        reused = fold == SPLIT  # the split's sets come from the generator notebooks when present
        gen_rows.append(dict(generator=kind, fold=fold, steps=steps, models=models, sec_per_step=t_step[kind],
                             seconds=0.0 if reused else steps * models * t_step[kind]))
    gens = pd.DataFrame(gen_rows)
    n_gpus = torch.cuda.device_count() if str(cfg.device).startswith("cuda") else 0
    if workers is None:
        workers = n_gpus * runs_per_gpu if n_gpus else max(1, (torch.get_num_threads() or 1) // cpus_per_run)
    speed = PACKING_EFFICIENCY if n_gpus and workers > n_gpus else 1.0
    total = float(table["seconds"].sum() + (gens["seconds"].sum() if len(gens) else 0))
    summary = dict(runs=len(table), generators=len(gens), device=str(cfg.device), gpus=n_gpus, workers=workers,
                   total_hours=total / 3600, wall_hours=total / 3600 / (workers * speed))
    if n_gpus:  # the same packing on a cluster of CLUSTER_GPUS such GPUs (classify --executor ray)
        per_gpu = max(1, workers // n_gpus)
        summary["cluster"] = dict(gpus=CLUSTER_GPUS, workers=CLUSTER_GPUS * per_gpu, wall_hours=total / 3600 / (
            CLUSTER_GPUS * per_gpu * (PACKING_EFFICIENCY if per_gpu > 1 else 1.0)))
    return dict(runs=table, generators=gens, summary=summary)


def print_plan(plan: dict) -> None:
    t, g, s = plan["runs"], plan["generators"], plan["summary"]
    by = t.groupby("arch").agg(runs=("seconds", "size"), sec_per_batch=("sec_per_batch", "first"),
                               sec_per_run=("seconds", "mean"), hours=("seconds", lambda v: v.sum() / 3600))
    with pd.option_context("display.width", 160, "display.float_format", lambda v: f"{v:,.3f}"):
        print(f"\n{s['runs']} classifier runs:")
        print(by.to_string())
        if len(g):
            gg = g.groupby("generator").agg(runs=("seconds", "size"), sec_per_step=("sec_per_step", "first"),
                                            steps=("steps", "first"), models=("models", "first"),
                                            hours=("seconds", lambda v: v.sum() / 3600))
            print(f"\n{s['generators']} generator trainings (sets of the prepared split are reused: 0 h):")
            print(gg.to_string())
    print(f"\ncompute: {s['total_hours']:.2f} h on {s['device']}; projected wall time with {s['workers']} "
          f"worker(s){' on ' + str(s['gpus']) + ' GPU(s)' if s['gpus'] else ''}: {s['wall_hours']:.2f} h "
          "(measured per-batch costs x batches; see helpers.classify.plan)")
    if "cluster" in s:
        c = s["cluster"]
        print(f"on a cluster of {c['gpus']} such GPUs ({c['workers']} workers): {c['wall_hours']:.2f} h")
