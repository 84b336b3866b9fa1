"""Student copies of the notebooks: every solution block becomes an exercise.

Inside a code cell, the lines between `### BEGIN SOLUTION` and `### END SOLUTION`
(nbgrader's markers) are replaced by `raise NotImplementedError("Exercise: <hint>")`,
indented like the block. The hint is the `# HINT:` comment just above the block (where it
stays, as in nbgrader's release), or the first one inside it. The graded test cells that
call the student's function, and the cells tagged `uses-exercise` (e.g. a training run with the
student's step), are tagged `raises-exception`, so `pytest --nbval-lax` runs a student copy to
the end: it stops with the hint at each exercise and nowhere else.

Assignments for instructors, with nbgrader: the source notebooks carry nbgrader's metadata
(each exercise a *solution cell*, its hint as a comment above the region so it survives,
followed by a read-only *graded test cell* holding the `check_*` call). `release` runs the real
`nbgrader generate_assignment` on them in a temporary course folder and copies the released
student versions out; `validate` runs `nbgrader validate` (a blank copy fails, the solutions
pass).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from helpers.course.notebooks import notebooks
from helpers.course.owned_files import Copy, write_copy
from helpers.errors import DataError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
USES = "uses-exercise"  # tag of a cell that runs the student's function (e.g. trains with their step)
_HINT = re.compile(r"#\s*HINT:\s*(.*)")


def _hint_above(out: list[str]) -> str | None:
    """The `# HINT:` in the comment lines right above a solution block, if any."""
    for line in reversed(out):
        if not line.strip().startswith("#"):
            return None
        if m := _HINT.search(line):
            return m.group(1).strip()
    return None


def strip_solutions(source: str) -> str:
    out, block, indent, above = [], None, "", None
    for line in source.splitlines():
        if line.strip().startswith(BEGIN):
            block, indent, above = [], line[: len(line) - len(line.lstrip())], _hint_above(out)
            continue
        if line.strip().startswith(END):
            if block is None:
                raise ValueError(f"'{END}' without '{BEGIN}'")
            hint = above or next((m.group(1).strip() for b in block if (m := _HINT.search(b))), "complete this cell")
            out.append(f"{indent}raise NotImplementedError({('Exercise: ' + hint)!r})")
            block = None
            continue
        if block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ValueError(f"'{BEGIN}' without '{END}'")
    return "\n".join(out)


def student_notebook(nb):
    nb = nbformat.from_dict(nb) if isinstance(nb, dict) else nb
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
        graded = cell.get("metadata", {}).get("nbgrader", {}).get("grade")  # nbgrader's graded test cell
        if cell.cell_type == "code" and (graded or USES in cell.metadata.get("tags", [])):
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")  # the unsolved exercise raises here, with its hint
    return nb


def build_student(notebooks_dir: str | Path, out_dir: str | Path, missing_only: bool = False) -> list[Copy]:
    """Student copies in `out_dir`. A copy the student has edited is never overwritten (see
    helpers.course.owned_files): it is kept and the new version goes to `out_dir/updates/`;
    `missing_only` writes only the copies that are not there yet (`make lab STUDENT=1`)."""
    paths = notebooks(notebooks_dir, required=True)
    return [write_copy(out_dir, path.name, nbformat.writes(student_notebook(nbformat.read(path, as_version=4)))
                       .encode() + b"\n", missing_only) for path in paths]


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
    paths = notebooks(notebooks_dir, only, required=True)
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
