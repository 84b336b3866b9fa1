"""Run every notebook under notebooks/ in order with papermill; executed copies and a timing
table go to RUNS/notebooks/."""

from helpers.cli import add_common
from helpers.config import resolve

NAME = "course"
HELP = "run all course notebooks in order (papermill)"


def add_arguments(p):
    add_common(p)
    p.add_argument("--notebooks-dir", default="notebooks", help="folder of NN_*.ipynb (default notebooks)")
    p.add_argument("--only", nargs="*", default=None, help="run only notebooks whose names start with these")


def run(args):
    from helpers.course.runner import run_course

    runs_dir = resolve(args.profile, args.dataset, args.data_dir, args.runs_dir, args.seed).runs_dir
    table = run_course(args.profile, args.dataset, runs_dir, args.data_dir, args.notebooks_dir, args.seed,
                       args.only)
    return 0 if (table["status"] == "ok").all() else 1
