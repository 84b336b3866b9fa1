"""The main job (`python -m helpers course`): every NN_*.ipynb in order, papermill, timings."""

from __future__ import annotations

import nbformat
import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook

from helpers.cli import main


def _nb(path, body):
    nb = new_notebook()
    params = new_code_cell('import os\nPROFILE = os.environ.get("COURSE_PROFILE", "quick")\nRUNS_DIR = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_course_runs_notebooks_in_order_and_keeps_going(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    log = 'import pathlib\np = pathlib.Path(RUNS_DIR) / "order.txt"\np.open("a").write(f"{NAME} {PROFILE}\\n")'
    _nb(nbs / "02_second.ipynb", log.replace("{NAME}", "02"))
    _nb(nbs / "01_first.ipynb", log.replace("{NAME}", "01"))
    _nb(nbs / "03_broken.ipynb", "raise RuntimeError('boom')")
    _nb(nbs / "10_added_later.ipynb", log.replace("{NAME}", "10"))
    (nbs / "scratch.ipynb").write_text("not a course notebook")  # ignored: no NN_ prefix
    runs = tmp_path / "runs"
    rc = main(["course", "--profile", "smoke", "--notebooks-dir", str(nbs), "--runs-dir", str(runs)])
    assert rc == 1  # one notebook failed ...
    assert (runs / "order.txt").read_text().split("\n")[:3] == ["01 smoke", "02 smoke", "10 smoke"]  # ... the rest ran
    t = pd.read_csv(runs / "notebooks" / "timings.csv")
    assert list(t.notebook) == ["01_first.ipynb", "02_second.ipynb", "03_broken.ipynb", "10_added_later.ipynb"]
    assert t.status.str.startswith("FAILED").tolist() == [False, False, True, False]
    assert (runs / "notebooks" / "01_first.ipynb").exists()
    executed = nbformat.read(runs / "notebooks" / "01_first.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    report = (runs / "index.html").read_text()  # the course report, written at the end
    assert "notebooks/html/03_broken.html" in report and "FAILED" in report


def test_notebooks_wait_for_those_they_read_from_and_two_run_at_once(tmp_path, monkeypatch):
    """04 and 05b need only 01 here (02 is left out: its needs are followed through it), so they
    run side by side: each waits (up to a minute) to see the other start. 09 reads what 04
    wrote, so it starts after 04 has finished. Each kernel gets its share of the cores as math
    threads."""
    from helpers.parallel.jobs import CORES

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the tests' own setting would be kept
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    body = ('import pathlib, time\np = pathlib.Path(RUNS_DIR) / "log.txt"\np.open("a").write("start {NAME}\\n")\n'
            't0 = time.time()\nwhile "{OTHER}" and f"start {OTHER}" not in p.read_text() and time.time() - t0 < 60:\n'
            '    time.sleep(0.2)\np.open("a").write(f"threads {os.environ.get(\'OMP_NUM_THREADS\')}\\nend {NAME}\\n")')
    for name, other in [("01", ""), ("04", "05b"), ("05b", "04"), ("09", "")]:
        _nb(nbs / f"{name}_x.ipynb", body.replace("{NAME}", name).replace("{OTHER}", other))
    runs = tmp_path / "runs"
    assert main(["course", "--profile", "smoke", "--notebooks-dir", str(nbs), "--runs-dir", str(runs),
                 "--at-once", "2"]) == 0
    lines = (runs / "log.txt").read_text().splitlines()
    at = {line: i for i, line in enumerate(lines)}
    assert at["end 01"] < min(at["start 04"], at["start 05b"])
    assert at["start 05b"] < at["end 04"] and at["start 04"] < at["end 05b"]  # side by side
    assert at["end 04"] < at["start 09"]
    assert f"threads {max(1, CORES // 2)}" in lines
    t = pd.read_csv(runs / "notebooks" / "timings.csv")
    assert list(t.notebook) == ["01_x.ipynb", "04_x.ipynb", "05b_x.ipynb", "09_x.ipynb"]


def test_what_each_notebook_waits_for():
    from pathlib import Path

    from helpers.course.notebooks import by_priority, prerequisites

    course = [Path(f"{n}_x.ipynb") for n in ("01", "02", "03", "04", "05", "05b", "06", "06b", "06c", "07", "08",
                                                "09", "10")]
    needs = prerequisites(course)
    assert needs["07"] == {"03", "04", "05", "06", "06c"} and needs["09"] == {"04"}
    assert needs["10"] == {n for n in needs if n < "10"}  # not in NEEDS: waits for every notebook before it
    assert prerequisites([Path("03_x.ipynb"), Path("07_x.ipynb")]) == {"03": set(), "07": {"03"}}
    order = [p.name[:3].rstrip("_") for p in by_priority(course)]
    assert order[:3] == ["01", "02", "06"]  # the longest chain first: 06 -> 06c -> 07 -> 08 -> 10
