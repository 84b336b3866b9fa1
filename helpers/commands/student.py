"""Write student copies of the notebooks, each solution block replaced by an exercise stub."""

NAME = "student"
HELP = "build student notebooks without solutions"


def add_arguments(p):
    p.add_argument("--notebooks-dir", default="notebooks")
    p.add_argument("--out", default="student/notebooks")
    p.add_argument("--missing-only", action="store_true",
                   help="only write the copies that are not there yet (what `make lab STUDENT=1` does)")


def run(args):
    from helpers.course.student import build_student

    for copy in build_student(args.notebooks_dir, args.out, args.missing_only):
        print(copy.line())
    return 0
