"""`python -m helpers <command>`: one entry point for every stage of the course.

Each module in `helpers/commands/` defines NAME, HELP, `add_arguments(parser)` and
`run(args) -> int`; they are found automatically, so a new stage is one new file.

A user error (bad data, a bad setting, a busy or damaged run folder, a run that diverged)
prints one line starting with `error:` and exits with status 2; Ctrl-C says where training
stopped and exits with 130. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import helpers.commands
from helpers.config import DATASETS, IMAGE_SIZES, PROFILES, plain_name, setup
from helpers.errors import CourseError, SettingError, no_room


def _whole(text: str, unit: str = "") -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a whole number{unit}, got {text!r}") from None


def image_size(text: str) -> int:
    """argparse type for --size: a power of two any stage can be asked for (IMAGE_SIZES)."""
    v = _whole(text, " of pixels")
    if v not in IMAGE_SIZES:
        raise argparse.ArgumentTypeError(f"wants a power of two from {IMAGE_SIZES[0]} to {IMAGE_SIZES[-1]} px, "
                                         f"got {v} (e.g. 32, 64, 128)")
    return v


def positive_int(text: str) -> int:
    v = _whole(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number >= 1, got {v}")
    return v


def plain_name_arg(text: str) -> str:
    try:
        return plain_name(text, "name")
    except SettingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_common(p: argparse.ArgumentParser, data: bool = True) -> None:
    """The options every stage shares (they mirror the notebooks' parameters cell); without
    `data`, only those that name the runs folder."""
    p.add_argument("--profile", choices=PROFILES, default="quick", help="smoke | quick | paper (default quick)")
    p.add_argument("--dataset", choices=DATASETS, default="phantom",
                   help="data source (default phantom); folder: your own images, one sub-folder per class, "
                        "in --data-dir")
    p.add_argument("--runs-dir", default=None,
                   help="where outputs go (default: runs/<profile>-<dataset>, runs/<profile>-folder-<name> for "
                        "--dataset folder)")
    if not data:
        return
    p.add_argument("--data-dir", default=None,
                   help="dataset folder (default: data/<dataset> in the project; required for --dataset folder)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=image_size, default=None,
                   help="image size in px, a power of two (default: the profile's)")


# Options that set one setting of a stage's preset, shared by several commands: `--epochs 3` is
# `--set epochs=3` (and wins over it)
PRESET_OPTIONS = {
    "arch": dict(help="classifier (default: the profile's)"),
    "epochs": dict(type=positive_int, help="epochs per training run (default: the profile's)"),
    "seeds": dict(help="classifier seeds, e.g. 0,1,2 (default: the profile's)"),
    "steps": dict(type=positive_int, help="generator steps (default: the profile's preset)"),
    "gen_steps": dict(type=positive_int, help="generator steps (default: the generator's preset)"),
    "threads": dict(type=positive_int, help="torch CPU threads (per training run)"),
    "workers": dict(type=positive_int, help="training runs side by side in processes on a CPU "
                                             "(default: the profile's, 2 on quick)"),
}


def add_set(p: argparse.ArgumentParser, example: str, *shared: str, **options: dict) -> None:
    """`--set KEY=VALUE` (repeatable): one setting of the stage's preset (helpers.presets); and
    the options that set one setting each, `shared` ones from PRESET_OPTIONS and the command's
    own `options` ({setting: add_argument's keywords}), which `preset_changes` collects."""
    p.add_argument("--set", dest="changes", action="append", default=None, metavar="KEY=VALUE",
                   help=f"change one setting of the profile's preset (repeatable), e.g. --set {example}; "
                        "the preset's own rules check it; a specific option (e.g. --epochs) is the same and wins")
    options = {**{n: PRESET_OPTIONS[n] for n in shared},
               **{n: {**PRESET_OPTIONS.get(n, {}), **kw} for n, kw in options.items()}}
    for name, kw in options.items():
        p.add_argument("--" + name.replace("_", "-"), default=None, **kw)
    p.set_defaults(preset_options=tuple(options))


def parse_pairs(pairs) -> dict[str, str]:
    """['epochs=3', 'seeds=0,1'] -> {'epochs': '3', 'seeds': '0,1'} (the text; the preset converts it)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SettingError(f"--set wants KEY=VALUE, got {pair!r}")
        out[key] = value.strip()
    return out


def preset_changes(args, **options) -> dict:
    """The changes asked of the stage's preset: each `--set KEY=VALUE`, then each specific
    option given (those of `add_set`, then `options`, e.g. size=args.size; None: not given),
    which wins."""
    given = {**{n: getattr(args, n) for n in getattr(args, "preset_options", ())}, **options}
    given = {k: v for k, v in given.items() if v is not None}
    return {**parse_pairs(getattr(args, "changes", None)), **given}


def config_from_args(args, **overrides):
    """The run's Config from the common options; `overrides` change its fields (e.g. n_folds)."""
    if getattr(args, "size", None) is not None:
        overrides.setdefault("size", args.size)
    return setup(args.profile, args.dataset, args.data_dir, args.runs_dir, args.seed, **overrides)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (what is wrong, where to look), not the usage."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m helpers", description=__doc__.split("\n\n")[0])
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
    except CourseError as e:  # a user error: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:  # a full disk or a file-size limit: one line too
        if no_room(e) is None:
            raise
        print(f"error: {no_room(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # helpers.errors.Interrupted says where training stopped
        text = str(e) or "interrupted; run the same command to go on where it stopped"
        print(f"\n{text}", file=sys.stderr)
        return 130
