"""`python -m helpers <command>`: one entry point for every stage of the course.

Each module in `helpers/commands/` defines NAME, HELP, `add_arguments(parser)` and
`run(args) -> int`; they are found automatically, so a new stage is one new file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import helpers.commands
from helpers.data.records import DataError


def add_common(p: argparse.ArgumentParser) -> None:
    """The options every stage shares (they mirror the notebooks' parameters cell)."""
    from helpers.config import DATASETS, PROFILES

    p.add_argument("--profile", choices=PROFILES, default="quick", help="smoke | quick | paper (default quick)")
    p.add_argument("--dataset", choices=DATASETS, default="phantom", help="data source (default phantom)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: data/<dataset> in the project)")
    p.add_argument("--runs-dir", default=None, help="where outputs go (default: runs/<profile>-<dataset>)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, default=None, help="image size in px (default: the profile's)")


def config_from_args(args):
    from helpers.config import setup

    over = {"size": args.size} if getattr(args, "size", None) else {}
    return setup(args.profile, args.dataset, args.data_dir, args.runs_dir, args.seed, **over)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(helpers.commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"helpers.commands.{info.name}")
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DataError as e:  # bad input: a clear message, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
