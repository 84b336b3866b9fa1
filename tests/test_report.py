"""The course report (helpers.course.report, `python -m helpers report`) and the executed
notebooks' progress bars (helpers.progress)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pandas as pd
import pytest
import tqdm.auto
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from helpers.cli import main
from helpers.course.report import build_report
from helpers.course.runner import execute, parameters
from helpers.pitfalls.tables import comparison
from helpers.progress import configure


class Links(HTMLParser):
    """Every href and src in a page."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [a[k] for k in ("href", "src") if a.get(k)]
        if tag == "script":
            self.scripts.append(a)


def links(page: Path) -> Links:
    p = Links()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def _png(path: Path, color) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)


def _executed(path: Path, title: str, failed: bool = False, seconds: float = 1.0) -> None:
    """A notebook as papermill leaves it: parameters, outputs, its own run record."""
    nb = new_notebook()
    code = new_code_cell("print('hello from the course')", execution_count=1)
    code.outputs = [new_output("stream", name="stdout", text="hello from the course\n")]
    nb.cells = [new_markdown_cell(f"# {title}\n\nText."), code]
    if failed:
        bad = new_code_cell("1 / 0", execution_count=2)
        bad.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
        nb.cells.append(bad)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["papermill"] = {"parameters": {"PROFILE": "smoke", "DATASET": "phantom"}, "duration": seconds,
                                "exception": failed or None}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def runs(tmp_path) -> Path:
    """A made-up course run: two executed notebooks (one failed), timings, figures, results."""
    r = tmp_path / "smoke-phantom"
    _executed(r / "notebooks" / "01_data.ipynb", "01 · Getting the data", seconds=1.5)
    _executed(r / "notebooks" / "02_quality.ipynb", "02 · Quality", failed=True, seconds=2.0)
    pd.DataFrame([dict(notebook="01_data.ipynb", seconds=12.3, status="ok"),
                  dict(notebook="02_quality.ipynb", seconds=4.5, status="FAILED: PapermillExecutionError: boom")]
                 ).to_csv(r / "notebooks" / "timings.csv", index=False)
    _png(r / "figures" / "01_counts.png", "red")
    _png(r / "figures" / "quality metrics.png", "green")  # a space: links must be escaped
    _png(r / "figures" / "zz_misc.png", "blue")
    pd.DataFrame({"sampler": ["DDPM"], "seconds": [1.0]}).to_csv(r / "figures" / "01_table.csv", index=False)
    (r / "classify").mkdir()
    pd.DataFrame([dict(arch="tiny", setting="real", fold=-1, seed=0, accuracy=0.75, accuracy_lo=0.5,
                       accuracy_hi=1.0, f1_macro=0.5, f1_macro_lo=0.2, f1_macro_hi=0.8),
                  *[dict(arch="tiny", setting="real+syn:wgan", fold=k, seed=0, accuracy=a, accuracy_lo=0,
                         accuracy_hi=1, f1_macro=a, f1_macro_lo=0, f1_macro_hi=1) for k, a in enumerate((0.6, 0.8))]]
                 ).to_csv(r / "classify" / "results.csv", index=False)
    (r / "quality").mkdir()
    q = dict(n_synthetic=10, fid=2.0, fid_real=0.5, kid=0.01, kid_real=0.0, precision=0.9, recall=0.4,
             memorised=0.0, tstr=0.7)
    pd.DataFrame([dict(generator="wgan", class_name="all", **q), dict(generator="wgan", class_name="benign", **q)]
                 ).to_csv(r / "quality" / "quality.csv", index=False)
    return r


def test_report_links_resolve_and_need_no_network(runs):
    index = build_report(runs, verbose=False)
    assert index == runs / "index.html"
    pages = [index, *sorted((runs / "notebooks" / "html").glob("*.html"))]
    assert [p.name for p in pages[1:]] == ["01_data.html", "02_quality.html"]
    for page in pages:
        found = links(page)
        assert not [s for s in found.scripts if s.get("src")], f"{page.name} loads a script"
        for url in found.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, f"{page.name} links outside the runs folder: {url}"
            if parts.path:  # '#nb-01' anchors stay on the page
                assert (page.parent / unquote(parts.path)).exists(), f"{page.name}: {url} does not resolve"
    urls = links(index).urls
    for want in ("notebooks/html/01_data.html", "notebooks/01_data.ipynb", "figures/01_counts.png",
                 "figures/quality%20metrics.png", "notebooks/timings.csv", "classify/results.csv"):
        assert want in urls
    assert "../../index.html" in links(pages[1]).urls  # each notebook page leads back


def test_report_shows_status_time_figures_and_tables(runs):
    text = build_report(runs, verbose=False).read_text(encoding="utf-8")
    assert "12.3 s" in text and "4.5 s" in text  # the runner's times, not papermill's
    assert "FAILED: PapermillExecutionError: boom" in text and "2 notebooks, 1 ok" in text
    assert "profile smoke" in text and "dataset phantom" in text
    sec1, sec2 = text.index("id='nb-01'"), text.index("id='nb-02'")
    assert sec1 < text.index("figures/01_counts.png") < sec2  # by number prefix
    assert sec2 < text.index("figures/quality%20metrics.png") < text.index("Other figures")  # by name
    assert text.index("Other figures") < text.index("figures/zz_misc.png")
    assert "01_table.csv" in text and "DDPM" in text  # a notebook's CSV shown as a table
    assert "0.750 [0.500, 1.000]" in text  # one cell: its bootstrap CI
    assert "0.700 ± 0.141" in text  # two folds: mean ± sd
    assert "2.00 (0.50)" in text  # quality 'all' row, FID beside real-vs-real
    page = (runs / "notebooks" / "html" / "01_data.html").read_text(encoding="utf-8")
    assert "hello from the course" in page and "Getting the data" in page


def test_report_command(runs, tmp_path, capsys):
    assert main(["report", "--runs-dir", str(runs), "--no-render"]) == 0
    assert (runs / "index.html").exists() and not (runs / "notebooks" / "html").exists()
    assert main(["report", "--runs-dir", str(tmp_path / "nothing")]) == 2
    assert "run the course first" in capsys.readouterr().err


def test_text_bars_keep_their_final_state(monkeypatch):
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.auto.tqdm)  # restored after the test
    monkeypatch.setattr(tqdm.auto, "trange", tqdm.auto.trange)
    assert not configure({})
    assert configure({"COURSE_PROGRESS": "text"})
    out = io.StringIO()
    for _ in tqdm.auto.tqdm(range(7), desc="steps", leave=False, disable=False, file=out):  # leave is overridden
        pass
    assert out.getvalue().rstrip("\n").split("\r")[-1].startswith("steps: 100%|")
    assert list(tqdm.auto.trange(3, file=io.StringIO())) == [0, 1, 2]


def _run_cell(tmp_path, code: str) -> list:
    """The outputs of `code` run as a notebook cell by the course runner (smoke parameters)."""
    params = new_code_cell("PROFILE = 'smoke'")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "bars.ipynb")
    execute(tmp_path / "bars.ipynb", tmp_path / "out.ipynb", parameters("smoke", "phantom", tmp_path / "runs"),
            timeout=120)
    return nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs


@pytest.mark.notebook
def test_executed_notebook_bar_ends_at_100(tmp_path, monkeypatch):
    """In a notebook the course runner executes, a bar's last printed state is 100%."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)  # conftest's; a course run has none

    loop = ("import helpers\nfrom tqdm.auto import tqdm\nfor i in tqdm(range(40), desc='training', leave=False):\n"
            "    pass\nprint('after')")
    outputs = _run_cell(tmp_path, loop)
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    stderr = "".join(o["text"] for o in outputs if o.get("name") == "stderr")
    bar_lines = [line.split("\r")[-1] for line in stderr.splitlines() if "training" in line]
    assert bar_lines and bar_lines[-1].startswith("training: 100%|") and "40/40" in bar_lines[-1]
    assert "\r" not in stderr and " 0%|" not in stderr  # the stored text is the final state only


def test_report_shows_the_ddpm_study_and_the_pitfalls_tables(runs):
    (runs / "ddpm_study").mkdir()
    pd.DataFrame([{"synthetic per class": 0, "real test: accuracy": 0.58, "real_lo": 0.5, "real_hi": 0.66,
                   "study protocol: accuracy": 0.58, "study_lo": 0.5, "study_hi": 0.66, "difference": 0.0,
                   "diff_lo": 0.0, "diff_hi": 0.0, "real test: F1 normal": 0.66, "study protocol: F1 normal": 0.66,
                   "published accuracy": 0.84, "published F1 normal": 0.38},
                  {"synthetic per class": 250, "real test: accuracy": 0.551, "real_lo": 0.449, "real_hi": 0.659,
                   "study protocol: accuracy": 0.712, "study_lo": 0.654, "study_hi": 0.773, "difference": 0.162,
                   "diff_lo": 0.079, "diff_hi": 0.261, "real test: F1 normal": 0.64, "study protocol: F1 normal": 0.74,
                   "published accuracy": 0.94, "published F1 normal": 0.91}]).to_csv(runs / "ddpm_study" / "table.csv")
    (runs / "pitfalls").mkdir()
    comparison([dict(shortcut="random split", protocol="random split", guard="leaky:random-split",
                     acc=dict(accuracy=0.751, lo=0.718, hi=0.784), reference="grouped@0.97",
                     ref_acc=dict(accuracy=0.631), inflation=dict(inflation=0.121, lo=0.075, hi=0.166, n=780),
                     studies="BUSI study")]).to_csv(runs / "pitfalls" / "closing_table.csv", index=False)
    text = build_report(runs, verbose=False).read_text(encoding="utf-8")
    assert "+0.162 [+0.079, +0.261]" in text and "0.94, 0.91" in text  # both protocols, published beside
    assert "+0.121 [+0.075, +0.166]" in text and "leaky:random-split" in text


@pytest.mark.notebook
def test_bars_of_models_trained_side_by_side_are_one_line_each(tmp_path, monkeypatch):
    """Two bars drawn at once from threads (the per-class GANs): each leaves one line at 100%,
    with no intermediate states and no cursor movements in the stored notebook."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    loop = ("import helpers, threading, time\nfrom tqdm.auto import tqdm\n"
            "def train(name):\n    for _ in tqdm(range(30), desc=name):\n        time.sleep(0.2)\n"
            "threads = [threading.Thread(target=train, args=(n,)) for n in ('model a', 'model b')]\n"
            "for t in threads:\n    t.start()\nfor t in threads:\n    t.join()")
    outputs = _run_cell(tmp_path, loop)
    stderr = "".join(o["text"] for o in outputs if o.get("name") == "stderr")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert sorted(line.split(":")[0] for line in lines) == ["model a", "model b"], stderr
    assert all("100%|" in line and "30/30" in line for line in lines) and "\x1b[" not in stderr


def test_report_counts_warnings_and_long_outputs(runs):
    """Per notebook, the warning lines and the cells with a wall of progress bars a reader meets."""
    nb = nbformat.read(runs / "notebooks" / "01_data.ipynb", as_version=4)
    noisy = new_code_cell("train()", execution_count=3)
    bars = "".join(f"\rtraining: {i}%|{'#' * (i // 10):10}| {i}/100 [00:01<00:01]" for i in range(101))
    noisy.outputs = [new_output("stream", name="stderr", text=f"x.py:3: FutureWarning: old\n  warnings.warn(\n"
                                                                f"y.py:9: UserWarning: careful\n{bars}\n")]
    nb.cells.append(noisy)
    nbformat.write(nb, runs / "notebooks" / "03_noisy.ipynb")
    text = build_report(runs, render=False, verbose=False).read_text(encoding="utf-8")
    table = text[text.index("id='notebooks'"):text.index("id='results'")]
    assert "<th>warnings</th><th>long outputs</th>" in table
    rows = {r.split("</td>")[0]: r for r in table.split("<tr><td>")[1:]}
    assert "<td>0</td><td>0</td>" in rows["01"]
    assert "<td><span class='failed'>2</span></td><td><span class='failed'>1</span></td>" in rows["03"]


def test_modules_that_bind_tqdm_on_import_get_text_bars():
    """`import helpers` swaps the bar before any of its modules binds `from tqdm.auto import tqdm`
    (helpers.config imports helpers.data): the data readers' bars are text bars too, not widgets
    saved at 0%."""
    code = "import helpers, helpers.data.folders as f; print(f.tqdm.__name__)"
    env = {**os.environ, "COURSE_PROGRESS": "text"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TextBar"
