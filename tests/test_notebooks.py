"""Every course notebook, executed top to bottom on the smoke profile, and its student copy;
and what a reader should never meet in one (helpers.course.checks)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers.course import checks
from helpers.course.notebooks import notebooks
from helpers.course.runner import execute, parameters
from helpers.course.student import BEGIN, student_notebook

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = notebooks(ROOT / "notebooks")

def _assert_clean(nb: Path, found: dict[str, list[str]]) -> None:
    """Every check's findings empty."""
    bad = {kind: items for kind, items in found.items() if items}
    assert not bad, f"{nb.stem}: {bad}"


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_smoke(nb, tmp_path, phantom_dir, monkeypatch):
    """It runs without an error, and a reader sees no warning and no wall of progress bars
    (the bars are on, as in a course run, to count them)."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    out = tmp_path / nb.name
    execute(nb, out, parameters("smoke", "phantom", tmp_path / "runs", phantom_dir), timeout=600)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    _assert_clean(nb, {"warnings": checks.warning_lines(executed), "long outputs": checks.long_outputs(executed),
                       "stray results": checks.stray_results(executed)})


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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exercises_are_headed_and_hints_do_not_solve(nb):
    """Every exercise sits under a heading that says so, and no hint holds a line of its
    solution (hints name the idea or the function, never the line to write)."""
    book = nbformat.read(nb, as_version=4)
    _assert_clean(nb, {"exercise headings": checks.exercises_without_heading(book), "hints": checks.hint_leaks(book)})
