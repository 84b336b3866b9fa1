"""Every course notebook, executed top to bottom on the smoke profile, and its student copy."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers.course.notebooks import notebooks
from helpers.course.runner import execute, parameters
from helpers.course.student import BEGIN, student_notebook

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = notebooks(ROOT / "notebooks")


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_smoke(nb, tmp_path, phantom_dir):
    out = tmp_path / nb.name
    execute(nb, out, parameters("smoke", "phantom", tmp_path / "runs", phantom_dir), timeout=600)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_shape(nb):
    """Stored without outputs, one `parameters` cell, at least one exercise; the student
    copy keeps no solution code."""
    book = nbformat.read(nb, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs before committing"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "PROFILE" in tagged[0].source and "COURSE_PROFILE" in tagged[0].source
    solutions = [c for c in code if BEGIN in c.source]
    assert solutions, "each notebook has at least one exercise"
    student = student_notebook(book)
    for c in student.cells:
        assert BEGIN not in c.source and "END SOLUTION" not in c.source
    stubs = [c for c in student.cells if "raise NotImplementedError" in c.source]
    assert len(stubs) >= len(solutions)
