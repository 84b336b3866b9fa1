"""What a grid will cost, before it runs: `python -m helpers classify --plan`.

The costs are measured on this machine's device through the code that trains
(`helpers.classify.timing`), then multiplied by what the grid will run:

    run       = epochs x training batches x t_batch (+ augmentation)
                + (epochs + 1) x evaluation batches x t_eval + fixed part
    generator = steps x t_step x models per fold (one per class that needs images for the
                per-class GANs; one for the cWGAN and the DDPM)

Training images per run: the fold's real training part plus its synthetic set (a balancing
set tops every class up to the largest + the generator preset's `balance_extra`; the DDPM
study's "+n per class" adds n images of every class, k x n in all). Each study's plan is
`helpers.classify.study_plan`; this module also plans a grid of runs given one by one (the
smoke and quick grids, and the paper profile's cross product, `--design cross`). The wall
time divides by the runs at once: on GPUs, runs per GPU at each architecture's measured
packing (`timing.packing_efficiency`); on a CPU, the CPU threads / CPUs per run.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from helpers.classify import timing
from helpers.classify.grid import recipe
from helpers.classify.settings import SPLIT, parts
from helpers.ddpm.presets import preset as ddpm_preset
from helpers.flow.presets import preset as flow_preset
from helpers.gan.presets import KINDS, get_preset
from helpers.synth import balance_counts

CLUSTER_GPUS = 4  # a GPU plan also projects the wall time on this many such GPUs


def balance_extra(generator: str, profile: str, dataset: str) -> int:
    """Images above the largest class that `generator`'s balancing set gives every class."""
    return get_preset(generator, profile, dataset=dataset).balance_extra if generator in KINDS else 0


def synthetic_images(counts: dict, setting, profile: str, dataset: str) -> int:
    """Synthetic training images of a run whose real training part has `counts` per class."""
    if not setting.generator:
        return 0
    if setting.per_class:  # n of every class (helpers.classify.synthetic.per_class_set)
        return setting.per_class * sum(1 for n in counts.values() if n)
    return int(sum(balance_counts(counts, extra=balance_extra(setting.generator, profile, dataset)).values()))


def generator_models(kind: str, counts: dict, profile: str, dataset: str) -> int:
    """Models one training of `kind` trains: one per class that needs images (per-class GANs)."""
    if kind not in KINDS or kind == "cwgan":
        return 1
    return sum(1 for n in balance_counts(counts, extra=balance_extra(kind, profile, dataset)).values() if n)


def generator_steps(kind: str, profile: str, dataset: str, gen_steps: int | None = None) -> int:
    if gen_steps:
        return int(gen_steps)
    if kind in ("ddpm", "flow"):
        return (ddpm_preset if kind == "ddpm" else flow_preset)(profile).steps
    return get_preset(kind, profile, dataset=dataset).steps


def run_seconds(cost: timing.RunCost, epochs: int, n_train: int, n_test: int, bs: int, device, tta: bool = False,
                augment_batch: float = 0.0) -> float:
    """One run: training batches (the last partial batch is dropped), an evaluation after each
    epoch and for the predictions (and the mirrored images with `tta`), and its fixed part."""
    val_bs = bs * 4 if timing.on_gpu(device) else bs
    train = epochs * max(1, n_train // bs) * (cost.train + augment_batch)
    evaluate = (epochs + 1 + int(tta)) * math.ceil(n_test / val_bs) * cost.evaluate
    return train + evaluate + cost.fixed


class Costs:
    """Measured costs, each once: classifier runs per (arch, batch), the augmentation's extra per
    batch (on the `tiny` network: it is the same for every network), packing per architecture
    and generator steps per (generator, data set)."""

    def __init__(self, progress: bool = True, runs_per_gpu: int = timing.PACKED_RUNS, compile=None):
        self.progress, self.runs_per_gpu, self.compile = progress, runs_per_gpu, compile  # compile: the preset's
        self._runs, self._aug, self._pack, self._steps = {}, {}, {}, {}

    def _say(self, text):
        if self.progress:
            print(text, flush=True)

    def run(self, cfg, arch: str, bs: int) -> timing.RunCost:
        key = (arch, bs, cfg.size, cfg.channels)
        if key not in self._runs:
            self._say(f"timing {arch} (batch {bs}, {cfg.size} px, {cfg.device}) ...")
            self._runs[key] = timing.time_classifier(cfg, arch, bs, compile=self.compile)
        return self._runs[key]

    def augment(self, cfg, augment: str, bs: int) -> float:
        if augment in (None, "none"):
            return 0.0
        key = (augment, bs, cfg.size, cfg.channels)
        if key not in self._aug:
            self._say(f"timing {augment} augmentation (batch {bs}) ...")
            with_aug = timing.time_classifier(cfg, "tiny", bs, augment, compile=self.compile).train
            self._aug[key] = max(0.0, with_aug - timing.time_classifier(cfg, "tiny", bs, compile=self.compile).train)
        return self._aug[key]

    def packing(self, cfg, arch: str, bs: int) -> float:
        if (arch, bs) not in self._pack:
            if timing.on_gpu(cfg.device) and self.runs_per_gpu > 1:
                self._say(f"timing {arch} at {self.runs_per_gpu} x batch {bs} (packing) ...")
            self._pack[(arch, bs)] = timing.packing_efficiency(cfg, arch, bs, self.runs_per_gpu, self.compile)
        return self._pack[(arch, bs)]

    def step(self, cfg, kind: str) -> float:
        key = (kind, cfg.dataset, cfg.size, cfg.channels, len(cfg.classes))
        if key not in self._steps:
            self._say(f"timing {kind} steps ({cfg.dataset}, {cfg.size} px) ...")
            self._steps[key] = timing.time_generator_step(kind, cfg, len(cfg.classes))
        return self._steps[key]


def make_plan(cfg, records: pd.DataFrame, runs: list[tuple], preset, workers: int | None = None,
              cpus_per_run: int = 1, runs_per_gpu: int = timing.PACKED_RUNS, progress: bool = True) -> dict:
    """{'runs': per-run table, 'generators': per-(generator, fold) table, 'summary': dict}."""
    costs = Costs(progress, runs_per_gpu, preset.torch_compile)
    n_gpus = torch.cuda.device_count() if timing.on_gpu(cfg.device) else 0
    rows = []
    for arch, setting, fold, seed in runs:
        how = recipe(arch, preset)
        train, test = parts(records, fold)
        counts = train["class_name"].value_counts().to_dict()
        n = len(train) + synthetic_images(counts, setting, cfg.profile, cfg.dataset)
        cost = costs.run(cfg, arch, how.bs)
        sec = run_seconds(cost, how.epochs, n, len(test), how.bs, cfg.device, how.tta,
                          costs.augment(cfg, setting.augment, how.bs))
        rows.append(dict(arch=arch, setting=setting.name, fold=fold, seed=seed, n_train=n, epochs=how.epochs,
                         sec_per_batch=cost.train, seconds=sec,
                         packing=costs.packing(cfg, arch, how.bs) if n_gpus else 1.0))
    table = pd.DataFrame(rows)
    gen_rows = []
    for gen, fold in dict.fromkeys((c[1].generator, c[2]) for c in runs if c[1].generator):
        counts = parts(records, fold)[0]["class_name"].value_counts().to_dict()
        steps = generator_steps(gen, cfg.profile, cfg.dataset, preset.gen_steps)
        models, t = generator_models(gen, counts, cfg.profile, cfg.dataset), costs.step(cfg, gen)
        reused = fold == SPLIT  # the split's sets come from the generator notebooks when present
        gen_rows.append(dict(generator=gen, fold=fold, steps=steps, models=models, sec_per_step=t,
                             seconds=0.0 if reused else steps * models * t))
    gens = pd.DataFrame(gen_rows)
    if workers is None:
        workers = n_gpus * runs_per_gpu if n_gpus else max(1, (torch.get_num_threads() or 1) // cpus_per_run)
    gen_sec = float(gens["seconds"].sum()) if len(gens) else 0.0
    total = float(table["seconds"].sum()) + gen_sec
    # packed runs each run at their architecture's measured share of their speed alone
    slowed = float((table["seconds"] / table["packing"]).sum()) if n_gpus and workers > n_gpus else float(
        table["seconds"].sum())
    summary = dict(runs=len(table), generators=len(gens), device=str(cfg.device), gpus=n_gpus, workers=workers,
                   total_hours=total / 3600, wall_hours=(slowed + gen_sec) / 3600 / workers)
    if n_gpus:  # the same packing on a cluster of CLUSTER_GPUS such GPUs (classify --executor ray)
        per_gpu = max(1, workers // n_gpus)
        summary["cluster"] = dict(gpus=CLUSTER_GPUS, workers=CLUSTER_GPUS * per_gpu,
                                  wall_hours=summary["wall_hours"] * workers / (CLUSTER_GPUS * per_gpu))
    return dict(runs=table, generators=gens, summary=summary)


def print_plan(plan: dict) -> None:
    t, g, s = plan["runs"], plan["generators"], plan["summary"]
    by = t.groupby("arch").agg(runs=("seconds", "size"), sec_per_batch=("sec_per_batch", "first"),
                               packing=("packing", "first"), sec_per_run=("seconds", "mean"),
                               hours=("seconds", lambda v: v.sum() / 3600))
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
