"""Copy the notebooks' `# export:` cells (the training steps) into the package, or with --check
only report which modules differ (exit status 1)."""

NAME = "export"
HELP = "copy the training steps written in the notebooks into helpers (or --check they agree)"


def add_arguments(p):
    p.add_argument("--check", action="store_true", help="only report modules that differ from the notebooks")
    p.add_argument("--notebooks-dir", default=None)


def run(args):
    from helpers.course.export import sync

    return sync(args.notebooks_dir, check_only=args.check)
