"""Run every notebook under notebooks/ with papermill (two at a time where one does not read
what the other writes); executed copies and a timing table go to RUNS/notebooks/."""

from helpers.cli import add_common
from helpers.config import resolve

NAME = "course"
HELP = "run all course notebooks (papermill)"


def add_arguments(p):
    add_common(p)
    p.add_argument("--notebooks-dir", default="notebooks", help="folder of NN_*.ipynb (default notebooks)")
    p.add_argument("--only", nargs="*", default=None, help="run only notebooks whose names start with these")
    p.add_argument("--at-once", type=int, default=None,
                   help="notebooks run at a time (default 2 on 2 or more cores; 1: one after another, in order)")


def run(args):
    from helpers.course.runner import AT_ONCE, run_course

    runs_dir = resolve(args.profile, args.dataset, args.data_dir, args.runs_dir, args.seed).runs_dir
    table = run_course(args.profile, args.dataset, runs_dir, args.data_dir, args.notebooks_dir, args.seed,
                       args.only, at_once=AT_ONCE if args.at_once is None else args.at_once)
    return 0 if (table["status"] == "ok").all() else 1
