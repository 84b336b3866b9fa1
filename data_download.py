#!/usr/bin/env python
"""Get the course's data: procedural phantoms (offline), BUSI, BreastMNIST, mini-MIAS or BreakHis.

Run `python data_download.py --help` (or `<source> --help`) for every option. Each sub-command
is a dataset's `download` in `helpers.data.registry` (its options and its work live beside
the dataset's reader); this file only assembles them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Running `python data_download.py` from the project folder works without installing.
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from helpers.config import default_data_dir as _default_data_dir  # noqa: E402
from helpers.data.registry import DATASETS  # noqa: E402
from helpers.errors import DataError  # noqa: E402

# One sub-command per download, in the registry's order (breakhis and breakhis8 share one).
DOWNLOADS = list({ds.download.command: ds.download for ds in DATASETS.values() if ds.download}.values())


def default_data_dir(dataset: str) -> Path:
    """Where the notebooks look when DATA_DIR is empty: COURSE_DATA_ROOT or <project>/data."""
    return _default_data_dir(dataset, "quick", os.environ.get("COURSE_DATA_ROOT") or ROOT / "data")


DESCRIPTION = """\
Get the images the course trains on (`python -m helpers prepare` and the notebooks read
each source's folder):

{sources}

Downloads stream with a progress bar, resume after an interruption (run the same command
again), are verified before they count as finished, and re-running skips finished work.
Archives are checked so that no entry can land outside the destination folder.
Each source has its own options: `python data_download.py SOURCE --help`.
"""

EXAMPLES = """\
examples:
{examples}

then, e.g.:
  python -m helpers prepare --dataset busi --data-dir data/busi --size 128 --runs-dir runs/paper-busi
  python -m helpers course --profile paper --dataset busi --data-dir data/busi
  (in a notebook: COURSE_DATASET=busi COURSE_DATA_DIR=data/busi before starting JupyterLab)
"""


def _sources() -> str:
    return "\n".join(f"  {d.command:<13}" + ("\n" + " " * 15).join(d.summary.splitlines()) for d in DOWNLOADS)


def _next_steps(dataset: str, data_dir: Path) -> None:
    print(f"Data folder: {data_dir}\nUse it with `python -m helpers course --dataset {dataset} "
          f"--data-dir {data_dir}` (or `prepare`), or in notebooks with COURSE_DATASET={dataset} "
          f"COURSE_DATA_DIR={data_dir}.")


def _command(download):
    def run(args) -> None:
        res = download.run(args)
        print(res["report"])
        _next_steps(download.command, res["data_dir"])
        if download.note:
            print(download.note)

    return run


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="data_download.py", description=DESCRIPTION.format(sources=_sources()),
                                epilog=EXAMPLES.format(examples="\n".join(f"  {e}" for d in DOWNLOADS
                                                                             for e in d.examples)),
                                formatter_class=fmt)
    sub = p.add_subparsers(dest="source", metavar="{" + ",".join(d.command for d in DOWNLOADS) + "}", required=True)
    for d in DOWNLOADS:
        sp = sub.add_parser(d.command, help=d.help, description=d.description, epilog=d.epilog, formatter_class=fmt)
        default = default_data_dir(d.command)
        sp.add_argument("--dest", default=None if d.dest_help else default,
                        help=d.dest_help or "folder to write into (default: %(default)s)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        d.add_arguments(sp)
        sp.set_defaults(func=_command(d), default_dest=default)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DataError as e:  # a user error: one line, status 2 (as `python -m helpers`)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}. Check the path and free disk space, then run the command again.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to continue where it stopped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
