"""Release the student versions of the notebooks with nbgrader (`nbgrader generate_assignment`):
solutions removed, hints and the read-only graded test cells kept. Instructors then grade with
nbgrader's usual commands."""

NAME = "assignments"
HELP = "release student versions of the notebooks with nbgrader"


def add_arguments(p):
    p.add_argument("--notebooks-dir", default="notebooks")
    p.add_argument("--out", default="release", help="folder for the released notebooks (default release/)")
    p.add_argument("--only", nargs="*", default=None, help="only notebooks whose names start with these")


def run(args):
    from helpers.course.student import release

    for copy in release(args.notebooks_dir, args.out, args.only):
        print(copy.line())
    return 0
