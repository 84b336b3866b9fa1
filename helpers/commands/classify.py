"""Run the classifier grid (architecture x data setting x fold x seed) for a profile and write
RUNS/classify/results.csv, one row per run with bootstrap 95% CIs. Rerunning skips finished
runs; an interrupted run restarts from its last epoch. Generators for the synthetic settings
are trained per fold on that fold's training part (reused when already exported). Notebook 08
runs the same grid through the same call (`helpers.classify.comparison.run_studies`)."""

from helpers.classify.presets import PRESETS
from helpers.cli import add_common, add_set, config_from_args, positive_int, preset_changes
from helpers.data.augment import POLICIES
from helpers.errors import SettingError

NAME = "classify"
HELP = "classifier comparison grid: real / +traditional / +synthetic, per fold, with CIs"


def _ints(text, option="--seeds"):
    if not text:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise SettingError(f"{option} wants comma-separated whole numbers, e.g. 0,1,2; got {text!r}.") from None


def add_arguments(p):
    add_common(p)
    add_set(p, "bs=16", "epochs", "gen_steps",
            archs=dict(help="comma-separated architectures (default: the profile's)"),
            augment=dict(choices=POLICIES, help="traditional augmentation policy (default busi_study)"),
            threads=dict(help="torch CPU threads (default: torch's choice)"),
            workers=dict(help="runs trained at once: on a CPU, side-by-side processes of one thread "
                              "each (default: the profile's, 2 on quick with 2+ cores; --threads alone "
                              "means 1); with --plan, the projection's (default: GPUs x 4, else CPU "
                              "threads / CPUs per run)"))
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
    p.add_argument("--pretrained", choices=["auto", "yes", "no"], default="auto",
                   help="ImageNet weights: auto = only if already in the torch hub cache (default)")
    p.add_argument("--plan", action="store_true",
                   help="print the runs, each one's cost (measured: a few training batches per architecture and "
                        "one step per generator) and the projected wall time, then stop")
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

    from helpers.classify.comparison import run_studies, study_grid
    from helpers.classify.grid import classify_dir
    from helpers.classify.plan import make_plan, print_plan
    from helpers.classify.settings import SPLIT
    from helpers.prepare import load_prepared

    seeds = _ints(args.seeds)
    workers = (args.workers or 1) if (args.workers or args.threads) else None  # --threads alone: 1
    preset = PRESETS.of(args.profile, **preset_changes(args, seeds=seeds and tuple(seeds), workers=workers))
    if preset.augment not in POLICIES:
        raise SettingError(f"The classifier grid setting augment wants one of {', '.join(POLICIES)}; "
                           f"got {preset.augment!r}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config_from_args(args)
    records = load_prepared(cfg)
    choices = dict(preset=preset, generators=args.generators, settings=args.settings.split(",") if args.settings else None,
                   folds=[SPLIT] if args.folds == "split" else _ints(args.folds, "--folds"), scenario=args.scenario)
    if args.plan:
        grid = study_grid(cfg, records, **choices)
        print(grid.summary())
        print_plan(make_plan(cfg, records, grid.runs, grid.preset, workers=args.workers, cpus_per_run=args.cpus_per_run))
        return 0
    ray_options = {}
    if args.executor == "ray":
        ray_options = dict(address=args.ray_address, cpus_per_cell=args.cpus_per_run, gpus_per_cell=args.gpus_per_run)
    pretrained = {"auto": "auto", "yes": True, "no": False}[args.pretrained]
    done = run_studies(cfg, records, pretrained=pretrained, executor=args.executor, ray_options=ray_options, **choices)
    cols = ["arch", "setting", "fold", "seed", "accuracy", "accuracy_lo", "accuracy_hi", "f1_macro", "seconds"]
    print(done.results[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {classify_dir(cfg) / 'results.csv'}")
    return 0
