"""Student copies of the notebooks: every solution block becomes an exercise.

Inside a code cell, the lines between `### BEGIN SOLUTION` and `### END SOLUTION`
(nbgrader's markers) are replaced by `raise NotImplementedError("Exercise: <hint>")`,
indented like the block. The hint is the `# HINT:` comment just above the block (where it
stays, as in nbgrader's release), or the first one inside it. The graded test cells that
call the student's function, and the cells tagged `uses-exercise` (e.g. a training run with the
student's step), are tagged `raises-exception`, so `pytest --nbval-lax` runs a student copy to
the end: it stops with the hint at each exercise and nowhere else.
"""

from __future__ import annotations

import re
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


def has_solution(source: str) -> bool:
    return BEGIN in source


def is_graded_test(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def student_notebook(nb):
    nb = nbformat.from_dict(nb) if isinstance(nb, dict) else nb
    for cell in nb.cells:
        if cell.cell_type == "code" and has_solution(cell.source):
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "code" and (is_graded_test(cell) or USES in cell.metadata.get("tags", [])):
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")  # the unsolved exercise raises here, with its hint
    return nb


def build_student(notebooks_dir: str | Path, out_dir: str | Path, missing_only: bool = False) -> list[Copy]:
    """Student copies in `out_dir`. A copy the student has edited is never overwritten (see
    helpers.course.owned_files): it is kept and the new version goes to `out_dir/updates/`;
    `missing_only` writes only the copies that are not there yet (`make lab STUDENT=1`)."""
    paths = notebooks(notebooks_dir)
    if not paths:
        raise DataError(f"No course notebooks (NN_*.ipynb) in {notebooks_dir}; run from the course folder or pass "
                        "--notebooks-dir.")
    return [write_copy(out_dir, path.name, nbformat.writes(student_notebook(nbformat.read(path, as_version=4)))
                       .encode() + b"\n", missing_only) for path in paths]
