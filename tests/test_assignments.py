"""Instructors' side: nbgrader metadata in the source notebooks, the real nbgrader round trip,
and student copies that run (under nbval) up to every exercise and stop only there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.course.notebooks import notebooks
from helpers.course.owned_files import write_copy
from helpers.course.student import (
    BEGIN,
    END,
    _hint_above,
    build_student,
    release,
    student_notebook,
    validate,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks(ROOT / "notebooks")


def _env(tmp_path, phantom_dir):
    return dict(os.environ, COURSE_PROFILE="smoke", COURSE_DATASET="phantom", COURSE_DATA_DIR=str(phantom_dir),
                COURSE_RUNS_DIR=str(tmp_path / "runs"), OMP_NUM_THREADS="1", TQDM_DISABLE="1")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_is_an_nbgrader_solution_cell_followed_by_a_graded_test(nb):
    cells = nbformat.read(nb, as_version=4).cells
    ids = [c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    solutions = [i for i, c in enumerate(cells) if c.cell_type == "code" and BEGIN in c.source]
    assert solutions
    for i in solutions:
        meta = cells[i].metadata.get("nbgrader", {})
        assert meta.get("solution") and not meta.get("grade"), f"cell {i}: solution cell without nbgrader metadata"
        lines = cells[i].source.splitlines()
        for k, line in enumerate(lines):
            if line.strip().startswith(BEGIN):
                assert _hint_above(lines[:k]), f"cell {i}: no '# HINT:' above the solution region (it would be lost)"
        test = cells[i + 1]
        tmeta = test.metadata.get("nbgrader", {})
        assert tmeta.get("grade") and tmeta.get("locked") and tmeta.get("points"), f"cell {i + 1}: not a graded test"
        assert "check_" in test.source and BEGIN not in test.source and END not in test.source


def test_student_copy_keeps_names_signatures_docstrings_and_hints(tmp_path):
    for path in (c.path for c in build_student(ROOT / "notebooks", tmp_path)):
        for c in nbformat.read(path, as_version=4).cells:
            if "raise NotImplementedError(" in c.source and c.metadata.get("nbgrader", {}).get("solution"):
                assert "def " in c.source and '"""' in c.source, f"{path.name}: a stub without its function"
                hint = next(line for line in c.source.splitlines() if "# HINT:" in line)
                assert hint.split("# HINT:")[1].strip()[:30] in c.source.split("raise NotImplementedError(")[1]


@pytest.mark.notebook
def test_nbgrader_round_trip(tmp_path, phantom_dir):
    """Released by the real `nbgrader generate_assignment`: the blank copy fails `nbgrader validate`,
    the solutions pass, and the hints survive."""
    released = [c.path for c in release(ROOT / "notebooks", tmp_path / "release", only=["01"])]
    assert [p.name for p in released] == ["01_data_acquisition.ipynb"]
    blank = nbformat.read(released[0], as_version=4)
    text = "\n".join(c.source for c in blank.cells)
    assert "# HINT:" in text and BEGIN not in text and "max(0, target - n)" not in text
    os.environ.update({k: v for k, v in _env(tmp_path, phantom_dir).items() if k.startswith("COURSE_")})
    try:
        ok_blank, report_blank = validate(released[0])
        source = tmp_path / "solutions" / "01_data_acquisition.ipynb"
        source.parent.mkdir()
        source.write_bytes((ROOT / "notebooks" / "01_data_acquisition.ipynb").read_bytes())
        ok_solution, report_solution = validate(source)
    finally:
        for k in ("COURSE_PROFILE", "COURSE_DATASET", "COURSE_DATA_DIR", "COURSE_RUNS_DIR"):
            os.environ.pop(k, None)
    assert not ok_blank, report_blank
    assert "NotImplementedError" in report_blank
    assert ok_solution, report_solution


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_runs_under_nbval_and_stops_only_at_the_exercises(nb, tmp_path, phantom_dir):
    student = tmp_path / nb.name
    nbformat.write(student_notebook(nbformat.read(nb, as_version=4)), student)
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-kernel-name", "python3",
                           "-p", "no:cacheprovider", "-p", "no:xdist", "-q", str(student)],
                          cwd=tmp_path, env=_env(tmp_path, phantom_dir), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:]


def _edit(path: Path, marker: str) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += f"\n\n{marker}"
    nbformat.write(nb, path)


def test_make_student_twice_keeps_the_students_edits(tmp_path):
    """`make student` after the student edited a copy: the edits stay, the new version goes beside
    it into updates/ with one line saying so; an unedited copy is brought up to date."""
    out = tmp_path / "student"
    first = build_student(ROOT / "notebooks", out)
    assert {c.status for c in first} == {"written"}
    edited, untouched = first[0].path, first[1].path
    _edit(edited, "MY WORK")
    again = {c.path.name: c for c in build_student(ROOT / "notebooks", out)}
    assert "MY WORK" in edited.read_text()
    kept = again[edited.name]
    assert kept.status == "kept" and kept.new_version == out / "updates" / edited.name
    assert "MY WORK" not in kept.new_version.read_text() and "edited" in kept.line()
    assert again[untouched.name].status == "unchanged"
    # a copy the course wrote and nobody edited follows the course's notebook when it changes
    src = tmp_path / "notebooks"
    src.mkdir()
    for nb in NOTEBOOKS[:2]:
        (src / nb.name).write_bytes(nb.read_bytes())
    _edit(src / untouched.name, "A COURSE FIX")
    third = {c.path.name: c for c in build_student(src, out)}
    assert third[untouched.name].status == "updated" and "A COURSE FIX" in untouched.read_text()
    assert third[edited.name].status == "kept" and "MY WORK" in edited.read_text()


def test_missing_only_writes_nothing_over_an_existing_copy(tmp_path):
    """What `make lab STUDENT=1` runs on every start: only the copies not there yet are built."""
    out = tmp_path / "student"
    out.mkdir()
    mine = out / NOTEBOOKS[0].name
    mine.write_text("not a notebook the course wrote")
    copies = {c.path.name: c for c in build_student(ROOT / "notebooks", out, missing_only=True)}
    assert mine.read_text() == "not a notebook the course wrote" and copies[mine.name].status == "skipped"
    assert all(c.status == "written" for n, c in copies.items() if n != mine.name)
    assert not (out / "updates").exists()


def test_a_file_the_course_never_wrote_is_kept(tmp_path):
    (tmp_path / "a.ipynb").write_text("someone's own file")
    copy = write_copy(tmp_path, "a.ipynb", b"new")
    assert copy.status == "kept" and (tmp_path / "a.ipynb").read_text() == "someone's own file"
    assert copy.new_version.read_bytes() == b"new"


def test_the_student_command_says_which_copies_it_kept(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "helpers", "student", "--notebooks-dir", str(ROOT / "notebooks"), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    _edit(out / NOTEBOOKS[0].name, "MY WORK")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    kept = [line for line in done.stdout.splitlines() if line.startswith("kept")]
    assert len(kept) == 1 and NOTEBOOKS[0].name in kept[0] and "updates" in kept[0]
    assert "MY WORK" in (out / NOTEBOOKS[0].name).read_text()
