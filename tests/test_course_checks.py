"""What a reader should never meet in a notebook (helpers.course.checks), on made-up cells."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.course import checks


def _exercise(hint: str, solution: str) -> str:
    return f"def f(x):\n    # HINT: {hint}\n    ### BEGIN SOLUTION\n{solution}\n    ### END SOLUTION\n"


def test_warnings_and_long_progress_bars_are_found():
    quiet = new_code_cell("x")
    quiet.outputs = [new_output("stream", name="stderr", text="training: 100%|##########| 50/50 [00:01<00:00]\n")]
    loud = new_code_cell("y")
    redraws = "".join(f"\rtraining: {i}%|{'#' * (i // 10):10}| {i}/100" for i in range(101))
    loud.outputs = [new_output("stream", name="stderr", text=f"a.py:1: FutureWarning: soon\n{redraws}\n"),
                    new_output("stream", name="stdout", text="a UserWarning-free line\n")]
    nb = new_notebook(cells=[quiet, loud])
    assert checks.warning_lines(nb) == ["cell 1: a.py:1: FutureWarning: soon"]
    assert [x.split(":")[0] for x in checks.long_outputs(nb)] == ["cell 1"]
    assert checks.bar_chars("\x1b[A" * 10) == 30  # cursor moves count too


def test_a_stray_path_is_found_a_figure_is_not():
    stray, fig = new_code_cell("savefig(...)"), new_code_cell("fig")
    stray.outputs = [new_output("execute_result", data={"text/plain": "PosixPath('/runs/figures/a.png')"})]
    fig.outputs = [new_output("display_data", data={"text/plain": "<Figure size 600x300>", "image/png": "iVBOR"})]
    assert checks.stray_results(new_notebook(cells=[stray, fig])) == ["cell 0: PosixPath('/runs/figures/a.png')"]


def test_a_hint_that_holds_a_solution_line_is_found():
    giving = _exercise("y = x.mean(axis=0); then scale", "    y = x.mean(axis = 0)\n    return y / y.max()")
    naming = _exercise("average over the first axis, then scale by the largest value",
                       "    y = x.mean(axis=0)\n    return y / y.max()")
    nb = new_notebook(cells=[new_markdown_cell("## Exercises"), new_code_cell(giving), new_code_cell(naming)])
    assert checks.hint_leaks(nb) == ["cell 1: y = x.mean(axis = 0)"]


def test_every_exercise_sits_under_an_exercise_heading():
    nb = new_notebook(cells=[new_markdown_cell("## 2. Splits\n\ntext"), new_code_cell(_exercise("idea", "    pass")),
                             new_markdown_cell("### Exercise 2: more\n\n**Write** it"),
                             new_code_cell(_exercise("idea", "    return 1")),
                             new_markdown_cell("No heading here, still exercise 2's section"),
                             new_code_cell(_exercise("idea", "    return 2"))])
    assert checks.exercises_without_heading(nb) == ["cell 1 (under '## 2. Splits')"]
