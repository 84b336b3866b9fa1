"""Assignments for instructors, with nbgrader.

The source notebooks carry nbgrader's metadata: each exercise is a *solution cell* (the
code between `### BEGIN SOLUTION` and `### END SOLUTION`, with its hint as a comment above
the region so it survives) followed by a read-only *graded test cell* holding the
`check_*` call. `release` runs the real `nbgrader generate_assignment` on them in a
temporary course folder and copies the released student versions out; `validate` runs
`nbgrader validate` (a blank copy fails, the solutions pass).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.course.notebooks import notebooks
from helpers.course.owned_files import Copy, write_copy
from helpers.errors import DataError

ASSIGNMENT = "course"
CODE_STUB = 'raise NotImplementedError("Exercise: write this part (see the hint above)")'
CONFIG = f"""c = get_config()  # noqa: F821
c.CourseDirectory.root = {{root!r}}
c.ClearSolutions.code_stub = {{{{"python": {CODE_STUB!r}}}}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Exchange.root = {{exchange!r}}
"""


def _nbgrader(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # nbgrader calls the `alembic` command: the environment's own bin folder goes first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PATH=path, PYTHONWARNINGS="ignore"))


def release(notebooks_dir: str | Path, out_dir: str | Path, only: list[str] | None = None) -> list[Copy]:
    """Student versions of the notebooks made by `nbgrader generate_assignment` into `out_dir`."""
    paths = [p for p in notebooks(notebooks_dir) if not only or any(p.name.startswith(o) for o in only)]
    if not paths:
        raise DataError(f"No course notebooks (NN_*.ipynb) in {notebooks_dir}.")
    with tempfile.TemporaryDirectory(prefix="nbgrader-") as tmp:
        root = Path(tmp)
        src = root / "source" / ASSIGNMENT
        src.mkdir(parents=True)
        for p in paths:
            shutil.copy2(p, src / p.name)
        (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root), exchange=str(root / "exchange")))
        done = _nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root)
        if done.returncode:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise DataError(f"nbgrader generate_assignment failed:\n{tail}")
        # an instructor's edits to an earlier release are kept (helpers.course.owned_files)
        return [write_copy(out_dir, p.name, (root / "release" / ASSIGNMENT / p.name).read_bytes()) for p in paths]


def validate(notebook: str | Path) -> tuple[bool, str]:
    """(passed, nbgrader's report) of `nbgrader validate` on one notebook (it is executed)."""
    done = _nbgrader(["validate", str(Path(notebook).resolve())], Path(notebook).parent)
    text = done.stdout + done.stderr
    return ("Success! Your notebook passes all the tests." in text), text
