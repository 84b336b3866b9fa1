"""Build the record table with near-duplicate groups, a grouped train/val/test split and
grouped folds: RUNS/data/records.csv and RUNS/data/duplicates.json."""

from helpers.cli import add_common, config_from_args

NAME = "prepare"
HELP = "record table with duplicate groups and grouped splits"


def add_arguments(p):
    add_common(p)
    p.add_argument("--folds", type=int, default=None, help="number of grouped folds (default: the profile's)")
    p.add_argument("--threshold", type=float, default=None,
                   help="thumbnail correlation above which two images are near-duplicates (default 0.97)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported) instead of stopping")


def run(args):
    from helpers.prepare import prepare

    cfg = config_from_args(args)
    over = {}
    if args.folds:
        over["n_folds"] = args.folds
    if args.threshold:
        over["dup_threshold"] = args.threshold
    prepare(cfg.with_(**over) if over else cfg, skip_bad=args.skip_bad)
    return 0
