"""Write the course report, RUNS/index.html: each notebook's status and time, the executed
notebooks rendered as HTML (RUNS/notebooks/html/), their figures and the key tables. `python
-m helpers course` writes it at the end; this rebuilds it (e.g. after a partial run)."""

from pathlib import Path

from helpers.cli import add_common
from helpers.config import default_runs_dir
from helpers.errors import DataError

NAME = "report"
HELP = "(re)build the course report RUNS/index.html from a course run"


def add_arguments(p):
    add_common(p, data=False)
    p.add_argument("--no-render", action="store_true",
                   help="only rewrite index.html; keep the notebooks' HTML pages as they are")


def run(args):
    from helpers.course.report import build_report

    runs = Path(args.runs_dir).expanduser() if args.runs_dir else default_runs_dir(args.profile, args.dataset)
    if not (runs / "notebooks").is_dir():
        raise DataError(f"{runs} holds no notebooks/ folder: run the course first (`python -m helpers course "
                        f"--runs-dir {runs}`), or point --runs-dir at a course run.")
    build_report(runs, render=not args.no_render)
    return 0
