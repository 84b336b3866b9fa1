"""Run the classifier grid (architecture x data setting x fold x seed) for a profile and write
RUNS/classify/results.csv, one row per cell with bootstrap 95% CIs. Rerunning skips finished
cells; an interrupted cell restarts from its last epoch. Generators for the synthetic settings
are trained per fold on that fold's training part (reused when already exported)."""

import re

from helpers.classify.presets import PRESETS
from helpers.cli import add_common, add_set, config_from_args, positive_int, preset_changes
from helpers.data.augment import POLICIES
from helpers.errors import SettingError
from helpers.generators import GENERATORS

NAME = "classify"
HELP = "classifier comparison grid: real / +traditional / +synthetic, per fold, with CIs"


def _ints(text, option="--seeds"):
    if not text:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SettingError(f"{option} wants comma-separated whole numbers, e.g. 0,1,2; got {text!r}.") from None


def _check_names(cfg, archs, gens, settings, folds, records):
    """Refuse unknown architectures, generators and folds before any cell trains. A generator
    is known when the course can train it or a synthetic set of that name is already exported."""
    from helpers.classify.grid import SPLIT
    from helpers.classify.models import ARCHITECTURES
    from helpers.synth import find_manifests

    for a in archs:
        if a not in ARCHITECTURES:
            raise SettingError(f"--archs: unknown architecture {a!r}; choose from {', '.join(ARCHITECTURES)}.")
    exported = {re.sub(r"-fold\d+$", "", name) for name in find_manifests(cfg.runs_dir)}
    for g in list(gens) + [s.generator for s in settings if s.generator]:
        if g not in GENERATORS and g not in exported:
            raise SettingError(f"unknown generator {g!r}; choose from {', '.join(GENERATORS)}, or a synthetic set "
                               f"under {cfg.runs_dir / 'synthetic'} (or --generators none).")
    have = sorted(int(f) for f in records["fold"].unique())
    bad = [f for f in folds if f != SPLIT and f not in have]
    if bad:
        raise SettingError(f"--folds: the prepared table has folds {have[0]}-{have[-1]}, not {bad}.")


def add_arguments(p):
    add_common(p)
    add_set(p, "bs=16")
    p.add_argument("--archs", default=None, help="comma-separated architectures (default: the profile's)")
    p.add_argument("--generators", default="all",
                   help="comma-separated generators for the synthetic settings; 'all' (default): every generator "
                        "the course trains (wgan, wgan-gp, dcgan, cwgan, ddpm), each beside its own study; "
                        "'none': real-only settings")
    p.add_argument("--settings", default=None,
                   help="comma-separated data settings, e.g. real,real+trad,real+syn:cwgan,real+trad+syn:cwgan "
                        "(default: real, real+trad, real+syn:G for every generator, plus what G's own study "
                        "needs: +trad+syn for the BUSI and cWGAN studies, the 50/125/250 sweep for the DDPM)")
    p.add_argument("--scenario", action="store_true",
                   help="with --settings: also run the DDPM study's sweep (0/50/125/250 synthetic per class) for "
                        "the DDPM (or the first generator)")
    p.add_argument("--folds", default=None,
                   help="fold ids, e.g. 0,1,2, or 'split' for the prepared train/test split "
                        "(default: the profile's: split on smoke and quick, every fold on paper)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the profile's)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs per cell (default: the profile's)")
    p.add_argument("--gen-steps", type=positive_int, default=None,
                   help="generator steps per fold (default: the generator's preset for the profile)")
    p.add_argument("--augment", default=None, choices=POLICIES,
                   help="traditional augmentation policy (default: busi_study)")
    p.add_argument("--pretrained", choices=["auto", "yes", "no"], default="auto",
                   help="ImageNet weights: auto = only if already in the torch hub cache (default)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--plan", action="store_true",
                   help="print the cells, each one's cost (measured: a few training batches per architecture and "
                        "one step per generator) and the projected wall time, then stop")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="cells running at once: on a CPU, side-by-side processes of one thread each (default: the "
                        "profile's, 2 on quick with 2+ cores; --threads alone means 1); with --plan, the projection's "
                        "(default: GPUs x 4, else CPU threads / CPUs per cell)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: each fold's generator and each cell a Ray task "
                        "(pip install .[ray]; a local Ray unless RAY_ADDRESS or --ray-address names a cluster)")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (default: $RAY_ADDRESS, else local)")
    p.add_argument("--cpus-per-cell", type=positive_int, default=1, help="Ray: CPUs per task (default 1)")
    p.add_argument("--gpus-per-cell", type=float, default=None,
                   help="Ray: GPU fraction per cell on CUDA (default 0.25: four cells share a GPU)")


def run(args):
    import torch

    from helpers.classify.grid import (
        SPLIT,
        Setting,
        available_generators,
        classify_dir,
        fold_list,
        plan,
        run_grid,
        scenario_settings,
    )
    from helpers.classify.studies import study_cells
    from helpers.prepare import load_prepared

    seeds = _ints(args.seeds)
    preset = PRESETS.of(args.profile, **preset_changes(
        args, archs=args.archs, seeds=seeds and tuple(seeds), epochs=args.epochs, gen_steps=args.gen_steps,
        augment=args.augment, threads=args.threads,
        workers=(args.workers or 1) if (args.workers or args.threads) else None))  # --threads N alone: one process
    if preset.augment not in POLICIES:
        raise SettingError(f"The classifier grid setting augment wants one of {', '.join(POLICIES)}; "
                           f"got {preset.augment!r}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config_from_args(args)
    records = load_prepared(cfg)
    archs = list(preset.archs)
    if args.generators == "none":
        gens = []
    elif args.generators == "all":
        gens = available_generators()
    else:
        gens = [g for g in args.generators.split(",") if g]
    settings = [Setting.parse(s, preset.augment) for s in args.settings.split(",")] if args.settings else []
    if args.folds == "split":
        folds = [SPLIT]
    else:
        folds = _ints(args.folds, "--folds") or fold_list(records, preset.folds)
    seeds = list(preset.seeds)
    _check_names(cfg, archs, gens, settings, folds, records)
    if settings:
        cells = plan(records, archs, settings, folds, seeds)
        if args.scenario and gens:
            g = "ddpm" if "ddpm" in gens else gens[0]
            sc_folds = folds[: preset.scenario_folds or None]
            cells += [c for c in plan(records, archs, scenario_settings(g, preset.scenario), sc_folds, seeds)
                      if c not in cells]
    else:  # each generator beside its own study
        cells = study_cells(records, archs, gens, folds, seeds, preset)
    pretrained = {"auto": "auto", "yes": True, "no": False}[args.pretrained]
    print(f"{len(cells)} cells: archs={archs} settings={[s.name for s in dict.fromkeys(c[1] for c in cells)]} "
          f"folds={folds} seeds={seeds} epochs={preset.epochs} threads={torch.get_num_threads()}")
    if args.plan:
        from helpers.classify.plan import make_plan, print_plan

        print_plan(make_plan(cfg, records, cells, preset, workers=args.workers, cpus_per_cell=args.cpus_per_cell))
        return 0
    ray_options = {}
    if args.executor == "ray":
        ray_options = dict(address=args.ray_address, cpus_per_cell=args.cpus_per_cell,
                           gpus_per_cell=args.gpus_per_cell)
    results = run_grid(cfg, records, cells, preset, pretrained=pretrained, executor=args.executor, **ray_options)
    cols = ["arch", "setting", "fold", "seed", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "seconds"]
    print(results[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {classify_dir(cfg) / 'results.csv'}")
    return 0
