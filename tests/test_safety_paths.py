"""The folders a run is given: never written into a data folder, a runs folder that cannot take
a file refused up front, bad notebook parameters and failed notebooks told in one line."""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from helpers.cli import main
from helpers.config import resolve
from helpers.errors import SettingError

ROOT = Path(__file__).resolve().parents[1]


def _run(args, capsys):
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def _one_error_line(text):
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error")]
    assert len(errors) == 1, text
    return errors[0]


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("inside", ["", "benign", "sub/runs"])
def test_a_runs_folder_in_the_data_folder_is_refused(phantom_dir, tmp_path, capsys, inside):
    data = tmp_path / "phantom"
    shutil.copytree(phantom_dir, data)
    before = _tree(data)
    rc, text = _run(["prepare", "--profile", "smoke", "--data-dir", str(data), "--runs-dir", str(data / inside)],
                    capsys)
    assert rc == 2
    assert "the data folder" in _one_error_line(text) and "never writes into a data folder" in text
    assert _tree(data) == before  # no data/, cache/ or anything else among the images


def test_a_runs_folder_that_is_a_file_is_refused(smoke_cfg, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    common = ["--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir)]
    rc, text = _run(["prepare", *common, "--runs-dir", str(afile)], capsys)
    assert rc == 2 and "is a file" in _one_error_line(text)
    rc, text = _run(["prepare", *common, "--runs-dir", str(afile / "below")], capsys)
    assert rc == 2 and "cannot be written (Not a directory)" in _one_error_line(text)
    assert afile.read_text() == "mine"


def test_a_read_only_runs_folder_is_refused_even_when_the_grid_is_finished(smoke_cfg, capsys, monkeypatch):
    args = ["classify", "--profile", "smoke", "--generators", "none", "--settings", "real", "--data-dir",
            str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir)]
    rc, text = _run(args, capsys)
    assert rc == 0 and "wrote" in text
    results = (smoke_cfg.runs_dir / "classify" / "results.csv").read_bytes()
    real = tempfile.TemporaryFile

    def read_only(*a, dir=None, **kw):  # as on a read-only disk (tests may run as root: chmod is no test)
        if dir is not None and Path(dir).resolve() == smoke_cfg.runs_dir.resolve():
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    rc, text = _run(args, capsys)
    assert rc == 2 and "cannot be written (Read-only file system)" in _one_error_line(text)
    assert "wrote" not in text
    assert (smoke_cfg.runs_dir / "classify" / "results.csv").read_bytes() == results


def test_a_data_folder_that_is_a_symlink_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for data in (loop, loop / "below"):
        rc, text = _run(["prepare", "--profile", "smoke", "--data-dir", str(data), "--runs-dir",
                         str(tmp_path / "runs")], capsys)
        assert rc == 2, text
        assert str(data) in _one_error_line(text)
    assert loop.is_symlink()


# -- the notebooks' parameters ------------------------------------------------------------------
def test_the_seed_is_checked_in_one_line():
    with pytest.raises(SettingError, match="The seed wants a whole number, e.g. 0; got 'abc' .*COURSE_SEED"):
        resolve("smoke", "busi", "/nowhere", "/tmp/runs", seed="abc")
    assert resolve("smoke", "busi", "/nowhere", "/tmp/runs", seed=" 3").seed == 3
    with pytest.raises(SettingError, match="Unknown profile 'fast' .*COURSE_PROFILE"):
        resolve("fast", "busi", "/nowhere", "/tmp/runs")


def test_the_notebooks_leave_checking_the_seed_to_setup():
    """`int(os.environ["COURSE_SEED"])` in the parameters cell was a bare ValueError."""
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        text = "".join(cell["source"])
        assert 'SEED = os.environ.get("COURSE_SEED", "0")' in text and "int(" not in text, path.name


def test_a_failed_notebook_says_its_own_error_in_one_line(tmp_path):
    """`course` used to say only "FAILED: PapermillExecutionError: "; the notebook itself showed a
    traceback for what is a user's mistake."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    nb = new_notebook()
    params = new_code_cell('import os\nPROFILE = os.environ.get("COURSE_PROFILE", "quick")\n'
                           'DATASET = os.environ.get("COURSE_DATASET", "phantom")\n'
                           'DATA_DIR = os.environ.get("COURSE_DATA_DIR", "")\n'
                           'RUNS_DIR = os.environ.get("COURSE_RUNS_DIR", "")\n'
                           'SEED = os.environ.get("COURSE_SEED", "0")')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell("import helpers\nfrom helpers.data import ensure_dataset\n"
                                      "ensure_dataset(helpers.setup(PROFILE, DATASET, DATA_DIR, RUNS_DIR, SEED))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbs / "01_data.ipynb")
    runs, missing = tmp_path / "runs", tmp_path / "no-busi-here"
    rc = main(["course", "--profile", "smoke", "--dataset", "busi", "--data-dir", str(missing),
               "--notebooks-dir", str(nbs), "--runs-dir", str(runs), "--only", "01"])
    assert rc == 1
    status = pd.read_csv(runs / "notebooks" / "timings.csv")["status"].iloc[0]
    assert status.startswith(f"FAILED: DataError: Data folder {missing} for dataset 'busi' does not exist"), status
    executed = nbformat.read(runs / "notebooks" / "01_data.ipynb", as_version=4)
    error = next(o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error")
    assert error.traceback == [f"DataError: {error.evalue}"]  # the one line, not a traceback
