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
