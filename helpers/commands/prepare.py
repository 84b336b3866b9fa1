"""Build the record table with near-duplicate groups, a grouped train/val/test split and
grouped folds: RUNS/data/records.csv and RUNS/data/duplicates.json."""

from helpers.cli import add_common, add_set, config_from_args, preset_changes
from helpers.config import PROFILE_DATA

NAME = "prepare"
HELP = "record table with duplicate groups and grouped splits"


def add_arguments(p):
    add_common(p)
    add_set(p, "n_folds=5")
    p.add_argument("--folds", type=int, default=None,
                   help="number of grouped folds (default: the profile's); the same as --set n_folds=N")
    p.add_argument("--threshold", type=float, default=None,
                   help="thumbnail correlation above which two images are near-duplicates (default 0.97)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (reported) instead of stopping")


def run(args):
    from helpers.prepare import prepare

    changes = preset_changes(args, size=args.size, n_folds=args.folds)
    data = PROFILE_DATA.of(args.profile, **changes)  # the data profile's rules refuse a bad value
    over = {k: getattr(data, k) for k in changes}
    if args.threshold:
        over["dup_threshold"] = args.threshold
    prepare(config_from_args(args, **over), skip_bad=args.skip_bad)
    return 0
