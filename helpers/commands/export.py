"""Copy the notebooks' `# export:` cells (the training steps) into the package, or with --check
only report which modules differ (exit status 1)."""

NAME = "export"
HELP = "copy the training steps written in the notebooks into helpers (or --check they agree)"


def add_arguments(p):
    p.add_argument("--check", action="store_true", help="only report modules that differ from the notebooks")
    p.add_argument("--notebooks-dir", default=None)


def run(args):
    from helpers import notebook_export as E

    nb_dir = args.notebooks_dir or E.ROOT / "notebooks"
    if args.check:
        bad = E.check(nb_dir)
        print("in sync" if not bad else "differ from the notebooks: " + ", ".join(bad))
        return 1 if bad else 0
    changed = E.write(nb_dir)
    print("updated: " + ", ".join(changed) if changed else "nothing to update")
    return 0
