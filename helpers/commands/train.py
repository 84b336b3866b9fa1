"""Train a generator on the training part of the prepared split and export a class-balanced
synthetic set to RUNS/synthetic/<generator>/manifest.csv. Interrupted runs resume."""

from helpers.cli import add_common, config_from_args
from helpers.generators import GENERATORS

NAME = "train"
HELP = "train a generator (wgan, wgan-gp, dcgan, cwgan, ddpm) and export synthetic images"


def add_arguments(p):
    p.add_argument("generator", choices=list(GENERATORS), help="which generator")
    add_common(p)
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: the profile's preset)")


def run(args):
    from helpers.generators import train_and_export

    cfg = config_from_args(args)
    manifest = train_and_export(args.generator, cfg, steps=args.steps)
    print(f"synthetic set: {manifest}")
    return 0
