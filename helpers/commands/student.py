"""Write student copies of the notebooks, each solution block replaced by an exercise stub."""

NAME = "student"
HELP = "build student notebooks without solutions"


def add_arguments(p):
    p.add_argument("--notebooks-dir", default="notebooks")
    p.add_argument("--out", default="student/notebooks")


def run(args):
    from helpers.student import build_student

    for p in build_student(args.notebooks_dir, args.out):
        print(p)
    return 0
