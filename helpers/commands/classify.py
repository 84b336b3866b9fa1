"""Run the classifier grid (architecture x data setting x fold x seed) for a profile and write
RUNS/classify/results.csv, one row per run with bootstrap 95% CIs. Rerunning skips finished
runs; an interrupted run restarts from its last epoch. Generators for the synthetic settings
are trained per fold on that fold's training part (reused when already exported). Notebook 08
runs the same grid through the same call (`helpers.classify.comparison.run_studies`).

The paper profile runs the studies one by one, each its own experiment
(`helpers.classify.study_designs`: its classifiers, settings and data; `--study NAME` for one);
`--design cross` runs instead every paper architecture with every setting on every fold."""

from pathlib import Path

from helpers.classify import study_designs as SD
from helpers.classify.presets import PRESETS
from helpers.classify.settings import SPLIT, fold_list
from helpers.cli import add_common, add_set, config_from_args, positive_int, preset_changes
from helpers.config import resolve, setup
from helpers.data.augment import POLICIES
from helpers.data.registry import dataset as dataset_record
from helpers.errors import DataError, SettingError

NAME = "classify"
HELP = "classifier comparison grid: real / +traditional / +synthetic, per fold, with CIs"


def _ints(text, option="--seeds"):
    if not text:
        return None
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out:  # "," would otherwise mean the profile's default
        raise SettingError(f"{option} wants comma-separated whole numbers, e.g. 0,1,2; got {text!r}.")
    return out


def add_arguments(p):
    add_common(p)
    # None: each study's own data set (--design studies), else the phantom (see `_dataset`)
    p.set_defaults(dataset=None)
    p.add_argument("--study", default=None,
                   help=f"run (or --plan) one study's own experiment: {', '.join(SD.DESIGNS)} (any case); on its own "
                        "data set unless --dataset names another (docs/studies.md, 'The paper profile, study by "
                        "study')")
    p.add_argument("--design", choices=["studies", "cross"], default=None,
                   help="studies: each study's own classifiers, settings, data, folds and seeds (default on paper); "
                        "cross: every architecture of the profile with every setting on every fold (the default "
                        "on smoke and quick, whose grid is one network; on paper 2,880 runs)")
    add_set(p, "bs=16", "epochs", "gen_steps",
            archs=dict(help="comma-separated architectures (default: the profile's)"),
            augment=dict(choices=POLICIES, help="traditional augmentation policy (default busi_study)"),
            threads=dict(help="torch CPU threads (default: torch's choice)"),
            workers=dict(help="runs trained at once: on a CPU, side-by-side processes of one thread "
                              "each (default: the profile's, 2 on quick with 2+ cores; --threads alone "
                              "means 1); with --plan, the projection's (default: GPUs x 4, else CPU "
                              "threads / CPUs per run; a study's plan: runs per GPU, default 4)"))
    p.add_argument("--generators", default="all",
                   help="comma-separated generators for the synthetic settings; 'all' (default): every generator "
                        "the course trains (wgan, wgan-gp, dcgan, cwgan, ddpm, and flow beyond the studies), each beside its own study; "
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
                        "(default: the profile's: split on smoke and quick; on paper each study's, or every fold "
                        "with --design cross)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated seeds (default: the profile's; on paper each study's)")
    p.add_argument("--pretrained", choices=["auto", "yes", "no"], default="auto",
                   help="ImageNet weights: auto = only if already in the torch hub cache (default)")
    p.add_argument("--plan", action="store_true",
                   help="print the runs, each one's cost (measured through the training code: a few batches per "
                        "architecture, a few steps per generator) and the projected wall time, then stop; with "
                        "the studies' design one row per study and a last line 'total: N runs, G generator "
                        "trainings, H GPU-hours on DEVICE (1 GPU), H4 h on 4' (nothing read from disk)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: each fold's generator and each run a Ray task "
                        "(pip install .[ray]; a local Ray unless RAY_ADDRESS or --ray-address names a cluster)")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (default: $RAY_ADDRESS, else local)")
    # --cpus-per-cell / --gpus-per-cell: the options' names before a training run was called a run
    p.add_argument("--cpus-per-run", "--cpus-per-cell", dest="cpus_per_run", type=positive_int, default=1,
                   help="Ray: CPUs per task (default 1)")
    p.add_argument("--gpus-per-run", "--gpus-per-cell", dest="gpus_per_run", type=float, default=None,
                   help="Ray: GPU fraction per run on CUDA (default 0.25: four runs share a GPU)")


def run(args):
    import torch

    seeds = _ints(args.seeds)
    workers = (args.workers or 1) if (args.workers or args.threads) else None  # --threads alone: 1
    preset = PRESETS.of(args.profile, **preset_changes(args, seeds=seeds and tuple(seeds), workers=workers))
    if preset.augment not in POLICIES:
        raise SettingError(f"The classifier grid setting augment wants one of {', '.join(POLICIES)}; "
                           f"got {preset.augment!r}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    design = args.design or ("studies" if args.study or args.profile == "paper" else "cross")
    if design == "studies":
        return _studies(args, preset, seeds)
    if args.study:
        raise SettingError("--study runs one study's own design; leave out --design cross.")
    args.dataset = args.dataset or "phantom"
    return _grid(args, preset)


def _choices(args, preset) -> dict:
    return dict(preset=preset, generators=args.generators, settings=args.settings.split(",") if args.settings else None,
                folds=[SPLIT] if args.folds == "split" else _ints(args.folds, "--folds"), scenario=args.scenario)


def _run_options(args) -> dict:
    ray_options = {}
    if args.executor == "ray":
        ray_options = dict(address=args.ray_address, cpus_per_cell=args.cpus_per_run, gpus_per_cell=args.gpus_per_run)
    return dict(pretrained={"auto": "auto", "yes": True, "no": False}[args.pretrained], executor=args.executor,
                ray_options=ray_options)


def _print_results(cfg, done) -> None:
    cols = ["arch", "setting", "fold", "seed", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "seconds"]
    print(done.results[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {cfg.runs_dir / 'classify' / 'results.csv'}")  # helpers.classify.grid.classify_dir


def _grid(args, preset) -> int:
    """The grid of runs chosen by --archs / --generators / --settings (the cross product)."""
    from helpers.classify.comparison import run_studies, study_grid
    from helpers.classify.plan import make_plan, print_plan
    from helpers.prepare import load_prepared

    cfg = config_from_args(args)
    records = load_prepared(cfg)
    choices = _choices(args, preset)
    if args.plan:
        grid = study_grid(cfg, records, **choices)
        print(grid.summary())
        print_plan(make_plan(cfg, records, grid.runs, grid.preset, workers=args.workers, cpus_per_run=args.cpus_per_run))
        return 0
    _print_results(cfg, run_studies(cfg, records, **_run_options(args), **choices))
    return 0


def _study_cfg(args, d, many: bool, plan: bool = False):  # plan: resolved only, nothing made
    """The Config of study `d`: its own data set unless --dataset names one; with several data
    sets in one call, each gets its own runs folder under --runs-dir."""
    dataset = args.dataset or d.dataset
    if many and args.data_dir:
        raise SettingError("--data-dir names one data set's folder, and these studies use several: add --study "
                           "NAME (or --dataset).")
    runs_dir = Path(args.runs_dir) / f"{args.profile}-{dataset}" if many and args.runs_dir else args.runs_dir
    size = {} if args.size is None else dict(size=args.size)
    if plan:
        return resolve(args.profile, dataset, args.data_dir, runs_dir, args.seed, **size)
    return setup(args.profile, dataset, args.data_dir, runs_dir, args.seed, **size)


def _studies(args, preset, seeds) -> int:
    """Each study's own experiment (helpers.classify.study_designs), or one with --study."""
    from helpers.classify.comparison import run_studies
    from helpers.classify.study_plan import make_study_plan, print_study_plan
    from helpers.prepare import load_prepared

    designs = [SD.design(args.study)] if args.study else list(SD.DESIGNS.values())
    if args.generators != "all" or args.settings or args.scenario:
        raise SettingError("--generators, --settings and --scenario choose the runs of --design cross; a study runs "
                           "its own settings (leave them out, or add --design cross).")
    folds = [SPLIT] if args.folds == "split" else _ints(args.folds, "--folds")
    archs = list(preset.archs) if "archs" in preset_changes(args) else None
    many = len({args.dataset or d.dataset for d in designs}) > 1
    if args.plan:
        cfg = _study_cfg(args, designs[0], many, plan=True)
        records = None
        if args.dataset and SD.known_counts(cfg.dataset, cfg.profile) is None:
            records = load_prepared(cfg)  # a data set of your own: its counts come from its table
        plan = make_study_plan(cfg, designs, preset, dataset=args.dataset, records=records, archs=archs, folds=folds,
                               seeds=seeds, runs_per_gpu=args.workers)
        print_study_plan(plan)
        return 0
    todo = []
    for d in designs:  # every data set is checked before anything trains (or any folder is made)
        cfg = _study_cfg(args, d, many, plan=True)
        if dataset_record(cfg.dataset).make is None and not cfg.data_dir.exists():
            missing = (f"The {d.study} study's data ({cfg.dataset}) is not in {cfg.data_dir}. "
                       f"{dataset_record(cfg.dataset).hint} Or run it on the phantom: --study {d.study} --dataset phantom.")
            if d.optional and not args.study:
                print(f"skipped: {missing}")
                continue
            raise DataError(missing)
        todo.append((d, cfg))
    for d, _ in todo:
        cfg = _study_cfg(args, d, many)
        records = load_prepared(cfg)
        choices = SD.choices(d, args.profile, preset)
        if archs:
            choices["archs"] = archs
        if seeds:
            choices["seeds"] = seeds
        if folds:
            choices["folds"] = folds
        elif args.profile == "paper":
            choices["folds"] = fold_list(records, d.folds)
        print(f"== the {d.study} study on {cfg.dataset} ({d.section}, docs/studies.md)")
        _print_results(cfg, run_studies(cfg, records, preset=preset, **_run_options(args), **choices))
    return 0
