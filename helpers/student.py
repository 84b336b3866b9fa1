"""Student copies of the notebooks: every solution block becomes an exercise.

Inside a code cell, the lines between `### BEGIN SOLUTION` and `### END SOLUTION`
(nbgrader's markers) are replaced by `raise NotImplementedError("Exercise: <hint>")`,
indented like the block. The hint is the first `# HINT:` comment inside the block, if any.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from helpers.errors import DataError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_HINT = re.compile(r"#\s*HINT:\s*(.*)")


def strip_solutions(source: str) -> str:
    out, block, indent = [], None, ""
    for line in source.splitlines():
        if line.strip().startswith(BEGIN):
            block, indent = [], line[: len(line) - len(line.lstrip())]
            continue
        if line.strip().startswith(END):
            if block is None:
                raise ValueError(f"'{END}' without '{BEGIN}'")
            hint = next((m.group(1).strip() for b in block if (m := _HINT.search(b))), "complete this cell")
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


def student_notebook(nb):
    nb = nbformat.from_dict(nb) if isinstance(nb, dict) else nb
    for cell in nb.cells:
        if cell.cell_type == "code" and has_solution(cell.source):
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
    return nb


def build_student(notebooks_dir: str | Path, out_dir: str | Path) -> list[Path]:
    from helpers.course import notebooks

    paths = notebooks(notebooks_dir)
    if not paths:
        raise DataError(f"No course notebooks (NN_*.ipynb) in {notebooks_dir}; run from the course folder or pass "
                        "--notebooks-dir.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = student_notebook(nbformat.read(path, as_version=4))
        nbformat.write(nb, out_dir / path.name)
        written.append(out_dir / path.name)
    return written
