"""The paper profile's cost, study by study: `python -m helpers classify --plan --profile paper`.

One row per study of `helpers.classify.study_designs` (runs, generator trainings, hours on this
machine's device, the expected half-widths), then one line:
    total: N runs, G generator trainings, H GPU-hours on DEVICE (1 GPU), H4 h on 4
(on a CPU: `H hours on cpu (1 device)`). Nothing is read from disk: each study is planned from
its data set's known class counts (`study_designs.known_counts`; a data set without them must be
prepared first), with the prepared folds' shares (a fold's test part 1 / n_folds, the split's
test_frac). A run two studies share (same data, network, setting, fold and seed: the real-only
baselines of the BUSI-based studies) is trained once and counted in the first study's row.
Costs are measured as `helpers.classify.plan` says; on one device runs go one after another
(on a GPU `runs_per_gpu` at a time at each network's measured packing) and generator trainings
one at a time; on 4 devices the total divides by 4, but never below the longest single job.
"""

from __future__ import annotations

import pandas as pd
import torch

from helpers.classify import plan as costs_of
from helpers.classify import study_designs as SD
from helpers.classify import timing
from helpers.classify.grid import recipe
from helpers.classify.settings import SPLIT, run_id
from helpers.data import registry
from helpers.errors import SettingError

DEVICES = 4  # the second projection: this many such devices


def study_config(cfg, dataset: str):
    """cfg for one study's data set (its classes and channels from the registry)."""
    if dataset == cfg.dataset:
        return cfg
    ds = registry.dataset(dataset)
    return cfg.with_(dataset=dataset, classes=tuple(ds.classes), channels=int(ds.channels),
                     dup_threshold=ds.dup_threshold or type(cfg).dup_threshold)


def fold_counts(counts: dict, cfg, fold) -> tuple[dict, int]:
    """(training images per class, test images) of one fold (or the split) from whole-set counts."""
    share = cfg.test_frac if fold == SPLIT else 1 / cfg.n_folds
    return {c: int(round(n * (1 - share))) for c, n in counts.items()}, int(round(sum(counts.values()) * share))


def _folds(d, profile, preset, n_folds, folds=None) -> list:
    if folds:
        return list(folds)
    if profile == "paper":
        return list(range(d.folds))
    f = preset.folds
    return [SPLIT] if f == "split" else list(range(n_folds if f is None else min(int(f), n_folds)))


def make_study_plan(cfg, designs, preset, dataset: str | None = None, records: pd.DataFrame | None = None,
                    archs=None, folds=None, seeds=None, runs_per_gpu: int | None = None,
                    progress: bool = True) -> dict:
    """{'rows': one row per study, 'total': dict}; `dataset` runs every study on that data set
    instead of its own (`records`: its prepared table, for a data set without known counts);
    archs / folds / seeds change the designs' (see `study_designs.choices`)."""
    n_gpus = torch.cuda.device_count() if timing.on_gpu(cfg.device) else 0
    per_gpu = runs_per_gpu or (timing.PACKED_RUNS if n_gpus else 1)
    measure = costs_of.Costs(progress, per_gpu, preset.torch_compile)
    seen, rows, longest = set(), [], 0.0
    for d in designs:
        scfg = study_config(cfg, dataset or d.dataset)
        counts = SD.known_counts(scfg.dataset, cfg.profile)
        if not counts and records is not None:
            counts = records["class_name"].value_counts().to_dict()
        if not counts:
            raise SettingError(f"The plan knows no class counts for {scfg.dataset!r}: prepare it first "
                               f"(python -m helpers prepare --dataset {scfg.dataset} ...).")
        ch = SD.choices(d, cfg.profile, preset)
        study_archs, study_seeds = list(archs or ch["archs"]), list(seeds or ch["seeds"] or preset.seeds)
        study_folds = _folds(d, cfg.profile, preset, scfg.n_folds, folds)
        new = shared = tested = 0
        hours = 0.0
        for fold in study_folds:
            train, n_test = fold_counts(counts, scfg, fold)
            tested += n_test
            for arch in study_archs:
                how = recipe(arch, preset)
                for s in ch["settings"]:
                    n = sum(train.values()) + costs_of.synthetic_images(train, s, cfg.profile, scfg.dataset)
                    todo = [sd for sd in study_seeds if (scfg.dataset, run_id(arch, s.name, fold, sd)) not in seen]
                    seen.update((scfg.dataset, run_id(arch, s.name, fold, sd)) for sd in todo)
                    shared += len(study_seeds) - len(todo)
                    if not todo:
                        continue
                    sec = costs_of.run_seconds(measure.run(scfg, arch, how.bs), how.epochs, n, n_test, how.bs,
                                               cfg.device, how.tta, measure.augment(scfg, s.augment, how.bs))
                    pack = measure.packing(scfg, arch, how.bs) if n_gpus else 1.0
                    new += len(todo)
                    hours += len(todo) * sec / (per_gpu * pack) / 3600
                    longest = max(longest, sec / 3600)
        gens = 0
        for fold in study_folds:
            train, _ = fold_counts(counts, scfg, fold)
            sec = (costs_of.generator_steps(d.generator, cfg.profile, scfg.dataset, preset.gen_steps)
                   * costs_of.generator_models(d.generator, train, cfg.profile, scfg.dataset)
                   * measure.step(scfg, d.generator)) if fold != SPLIT else 0.0  # the split's set is reused
            gens += 1
            hours += sec / 3600
            longest = max(longest, sec / 3600)
        acc, paired = SD.half_widths(tested, SD.expected_accuracy(d), len(study_seeds))
        rows.append(dict(study=d.study, data=scfg.dataset, archs=",".join(study_archs),
                         settings=len(ch["settings"]), folds=len(study_folds), seeds=len(study_seeds), runs=new,
                         shared=shared, generators=gens, generator=d.generator, hours=hours, accuracy_hw=acc,
                         paired_hw=paired))
    table = pd.DataFrame(rows)
    total_h = float(table["hours"].sum()) if len(table) else 0.0
    name = torch.cuda.get_device_name(0) if n_gpus else str(cfg.device)
    total = dict(runs=int(table["runs"].sum()), generators=int(table["generators"].sum()), hours=total_h,
                 hours_4=max(total_h / DEVICES, longest), device=name, gpu=bool(n_gpus), runs_per_gpu=per_gpu)
    return dict(rows=table, total=total)


def total_line(total: dict) -> str:
    """The plan's last line (a test parses it)."""
    where = (f"GPU-hours on {total['device']} (1 GPU)" if total["gpu"]
             else f"hours on {total['device']} (1 device)")
    return (f"total: {total['runs']} runs, {total['generators']} generator trainings, {total['hours']:.2f} {where}, "
            f"{total['hours_4']:.2f} h on {DEVICES}")


def print_study_plan(plan: dict) -> None:
    t, s = plan["rows"], plan["total"]
    hours = f"{'GPU-hours' if s['gpu'] else 'hours'} on {s['device']}"
    show = t.assign(generators=t["generators"].astype(str) + " " + t["generator"]).rename(
        columns={"hours": hours, "accuracy_hw": "accuracy +-", "paired_hw": "paired +-"}).drop(columns="generator")
    print("\nThe paper profile, study by study (docs/studies.md, 'The paper profile, study by study'):")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.float_format", lambda v: f"{v:,.3f}"):
        print(show.to_string(index=False))
    print("Assumed: each data set's class counts as released (not read from disk), the prepared folds' shares; "
          "runs: epochs x batches x the per-batch cost measured through the training code"
          + (f" at batch {timing.CPU_TIMING_BATCH}, scaled to the run's batch" if not s["gpu"] else "")
          + (f"; {s['runs_per_gpu']} runs per GPU at each network's measured packing (at most "
             f"{timing.PACKING_EFFICIENCY} of its speed alone, ResNet18's)" if s["gpu"] else
             "; one run at a time, no packing on a CPU")
          + "; generator trainings one at a time; not counted: checkpoints, sampling the synthetic sets, "
          "preparing the data. 'shared': runs another study above already trains. +-: expected 95% "
          "half-widths (helpers.classify.study_designs).")
    print(total_line(s))
