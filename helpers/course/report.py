"""The course report: RUNS/index.html, one static page over a finished course run.

A reader who ran nothing opens it and sees each notebook's status and time, a link to the
executed notebook rendered as HTML (RUNS/notebooks/html/), its figures and the key tables
(the classifier comparison, synthetic quality, timings). Every link is relative and nothing
is fetched from the network, so the runs folder can be zipped, copied or served as it is.
A key table is left out when the run has no CSV for it, so a partial course still gets a
report; the stages format their own numbers (`quality.report.summary`, the pitfalls' `pretty`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

import jinja2
import nbformat
import pandas as pd

from helpers.course import checks
from helpers.course.notebooks import NOTEBOOK_GLOB, NOTEBOOK_NAME
from helpers.pitfalls import synthetic_in_test
from helpers.pitfalls import tables as pitfalls_tables
from helpers.quality import report as quality_report

INDEX = "index.html"
HTML_DIR = Path("notebooks") / "html"
MAX_ROWS = 30  # a table longer than this is cut: the CSV beside it has everything

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #555; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; } th { background: #f4f4f4; }
.ok { color: #176317; font-weight: 600; } .failed { color: #b00020; font-weight: 600; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 330px; } figure img { width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; word-break: break-all; }
"""

# nbconvert's lab template without the scripts it would fetch from a CDN (require.js,
# MathJax, mermaid, the widget manager), and with a link back to the report.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}{{ super() }}
<p style="padding: 8px 16px; font-family: sans-serif"><a href="../../index.html">&larr; course report</a></p>
{%- endblock body_header -%}
"""


def _href(path: Path | str) -> str:
    """A relative URL for a path below the runs folder (spaces and the like escaped)."""
    return quote(Path(path).as_posix())


def _esc(text) -> str:
    return html.escape(str(text))


def _title(nb) -> str:
    """The notebook's first markdown heading, without the '#'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def notebook_entries(runs: Path) -> list[dict]:
    """One dict per executed notebook (or per notebook the timings name): number, name, title,
    status, seconds, parameters, and the warnings and long progress-bar outputs a reader meets
    in it (helpers.course.checks). Status and time come from timings.csv when the runner wrote
    it, otherwise from papermill's own record in the notebook."""
    nb_dir = runs / "notebooks"
    timings = pd.read_csv(nb_dir / "timings.csv") if (nb_dir / "timings.csv").exists() else pd.DataFrame()
    timed = {r["notebook"]: r for r in timings.to_dict("records")}
    names = sorted({p.name for p in nb_dir.glob(NOTEBOOK_GLOB) if NOTEBOOK_NAME.match(p.name)} | set(timed))
    out = []
    for name in names:
        e = dict(name=name, number=name.split("_")[0], title="", status="not run", seconds=None, params={},
                 warnings=None, long_outputs=None)
        path = nb_dir / name
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            pm = nb.metadata.get("papermill", {})
            e.update(title=_title(nb), params=pm.get("parameters", {}), seconds=pm.get("duration"),
                     status="FAILED" if pm.get("exception") else "ok", warnings=len(checks.warning_lines(nb)),
                     long_outputs=len(checks.long_outputs(nb)))
        if name in timed:  # the runner's own verdict includes failures papermill did not record
            e.update(status=str(timed[name]["status"]), seconds=timed[name]["seconds"])
        out.append(e)
    return out


def render_notebook(src: Path, dest: Path) -> Path:
    """The executed notebook as a static HTML page (images embedded, no network)."""
    from nbconvert import HTMLExporter  # heavy: only a rendering report needs it

    nb = nbformat.read(src, as_version=4)
    nb.metadata.pop("widgets", None)  # widget state needs the CDN widget manager; text fallbacks show
    exporter = HTMLExporter(template_name="lab",
                            extra_loaders=[jinja2.DictLoader({"course_offline.html.j2": OFFLINE_TEMPLATE})])
    exporter.template_file = "course_offline.html.j2"
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": src.stem}})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    return dest


def assign_files(files: list[Path], entries: list[dict]) -> tuple[dict, list[Path]]:
    """{notebook name: its files} by the file's number prefix ('03_*' -> 03_wgan), else by its
    first word matching a word of a notebook's name ('quality_*' -> 07_quality); the rest apart."""
    by_nb: dict[str, list[Path]] = {e["name"]: [] for e in entries}
    rest = []
    for f in sorted(files):
        head = re.split(r"[_\-. ]", f.stem)[0]
        match = [e["name"] for e in entries if e["number"] == head] or \
                [e["name"] for e in entries if head in Path(e["name"]).stem.split("_")[1:]]
        (by_nb[match[0]] if match else rest).append(f)
    return by_nb, rest


def _table(df: pd.DataFrame) -> str:
    cut = len(df) > MAX_ROWS
    body = df.head(MAX_ROWS).to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.3g}")
    return body + (f"<p class='meta'>first {MAX_ROWS} of {len(df)} rows</p>" if cut else "")


def _status(status: str) -> str:
    cls = "ok" if status == "ok" else "failed"
    return f"<span class='{cls}'>{_esc(status)}</span>"


def _seconds(s) -> str:
    return "" if s is None or pd.isna(s) else f"{float(s):.1f} s"


def _count(n) -> str:
    """A check's count, in red when not 0 ('' for a notebook that did not run)."""
    return "" if n is None else f"<span class='failed'>{n}</span>" if n else "0"


def _figures(files: list[Path], runs: Path) -> str:
    pngs = [f for f in files if f.suffix.lower() == ".png"]
    items = "".join(f"<figure><a href='{_href(f.relative_to(runs))}'><img src='{_href(f.relative_to(runs))}' "
                    f"alt='{_esc(f.stem)}' loading='lazy'></a><figcaption>{_esc(f.name)}</figcaption></figure>"
                    for f in pngs)
    return f"<div class='figs'>{items}</div>" if items else ""


def _small_tables(files: list[Path], runs: Path) -> str:
    """CSV files a notebook saved beside its figures (e.g. a sampler table), shown as tables."""
    out = []
    for f in (f for f in files if f.suffix.lower() == ".csv"):
        try:
            out.append(f"<h4><a href='{_href(f.relative_to(runs))}'>{_esc(f.name)}</a></h4>{_table(pd.read_csv(f))}")
        except Exception:  # an unreadable CSV is linked, not shown
            out.append(f"<p><a href='{_href(f.relative_to(runs))}'>{_esc(f.name)}</a></p>")
    return "".join(out)


def _links(e: dict, runs: Path) -> str:
    page = HTML_DIR / (Path(e["name"]).stem + ".html")
    links = []
    if (runs / page).exists():
        links.append(f"<a href='{_href(page)}'>notebook</a>")
    if (runs / "notebooks" / e["name"]).exists():
        links.append(f"<a href='{_href(Path('notebooks') / e['name'])}'>.ipynb</a>")
    return " · ".join(links)


def _timings_link(runs: Path) -> str:
    csv = Path("notebooks") / "timings.csv"
    return f"<p class='meta'>times and status: <a href='{_href(csv)}'>{csv.as_posix()}</a></p>" if (runs / csv).exists() \
        else ""


def classify_summary(res: pd.DataFrame) -> pd.DataFrame:
    """RUNS/classify/results.csv (one row per run) as one row per architecture and setting:
    a single run's bootstrap 95% CI, or the mean and spread over folds and seeds."""
    rows = []
    for (arch, setting), part in res.groupby(["arch", "setting"], sort=False):
        row = {"arch": arch, "setting": setting, "runs": len(part)}
        for m in ("accuracy", "f1_macro", "auc_macro"):
            if m not in part:
                continue
            v = part[m]
            if len(part) == 1 and f"{m}_lo" in part:
                row[m] = f"{v.iloc[0]:.3f} [{part[m + '_lo'].iloc[0]:.3f}, {part[m + '_hi'].iloc[0]:.3f}]"
            else:
                row[m] = f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def quality_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The 'all' rows of RUNS/quality/quality.csv, each score beside its real-vs-real value."""
    try:
        return quality_report.summary(table, "all").reset_index()
    except Exception:  # another column set (older run): the plain rows still inform
        return table[table["class_name"] == "all"].round(3)


def key_tables(runs: Path) -> list[tuple[str, pd.DataFrame, str, str]]:
    """(title, table, its CSV below RUNS/, what it shows) for each results file the run has, in
    the report's order: the classifier grid, quality (notebook 07), the DDPM study's scenarios
    under both test protocols (notebook 06b) and each shortcut beside its honest protocol (09)."""
    tables = [("Classifier comparison", classify_summary, "classify/results.csv",
               "one run: its value [bootstrap 95% CI]; several folds or seeds: mean ± sd over the runs. "
               "Notebook 08 pools them and puts the studies' published numbers beside them."),
              ("Synthetic image quality, all classes", quality_summary, "quality/quality.csv",
               "in brackets: the same score between two halves of the real training images (the floor)."),
              ("The DDPM study's scenarios under both test protocols", synthetic_in_test.pretty,
               "ddpm_study/table.csv", "the same models scored on real test images only and on the study's 80/20 "
               "split of real + synthetic images; published numbers from INbreast."),
              ("What each protocol shortcut adds",
               lambda df: pitfalls_tables.pretty(df).drop(columns=["interval"]), "pitfalls/closing_table.csv",
               "inflation: the shortcut's accuracy minus its honest protocol's on the same images, paired 95% CI "
               "(the single-split row gives a range, not a CI).")]
    return [(title, table(pd.read_csv(runs / src)), src, note) for title, table, src, note in tables
            if (runs / src).exists()]


def index_html(runs: Path, entries: list[dict], files: dict, other: list[Path]) -> str:
    """The page itself: a summary, the notebooks table, the key tables, then per notebook."""
    params = next((e["params"] for e in entries if e["params"]), {})
    ok = sum(e["status"] == "ok" for e in entries)
    total = sum(float(e["seconds"]) for e in entries if e["seconds"] is not None and not pd.isna(e["seconds"]))
    head = (f"<h1>Course report: {_esc(runs.name)}</h1><p class='meta'>profile {_esc(params.get('PROFILE', '?'))}"
            f" · dataset {_esc(params.get('DATASET', '?'))} · {len(entries)} notebooks, {ok} ok · "
            f"{total / 60:.1f} min · written {pd.Timestamp.now():%Y-%m-%d %H:%M}</p>"
            "<nav><a href='#notebooks'>notebooks</a><a href='#results'>key results</a>"
            "<a href='#figures'>figures per notebook</a></nav>")
    rows = "".join(f"<tr><td>{_esc(e['number'])}</td><td><a href='#nb-{_esc(e['number'])}'>{_esc(e['title'] or e['name'])}"
                   f"</a></td><td>{_status(e['status'])}</td><td>{_seconds(e['seconds'])}</td>"
                   f"<td>{_count(e['warnings'])}</td><td>{_count(e['long_outputs'])}</td>"
                   f"<td>{_links(e, runs)}</td></tr>" for e in entries)
    parts = [head, "<h2 id='notebooks'>Notebooks</h2><table><tr><th>#</th><th>notebook</th><th>status</th>"
             "<th>time</th><th>warnings</th><th>long outputs</th><th>open</th></tr>"
             f"{rows}</table><p class='meta'>warnings: warning lines on stderr; long outputs: cells with more "
             f"than {checks.LONG_BARS} characters of progress bars. Both should be 0.</p>", _timings_link(runs),
             "<h2 id='results'>Key results</h2>"]
    for title, df, src, note in key_tables(runs):
        parts.append(f"<h3>{_esc(title)}</h3>{_table(df)}<p class='meta'>{_esc(note)} All rows: "
                     f"<a href='{_href(src)}'>{src}</a></p>")
    if not any("<h3>" in p for p in parts):
        parts.append("<p class='meta'>No classifier or quality results in this run.</p>")
    parts.append("<h2 id='figures'>Figures per notebook</h2>")
    for e in entries:
        parts.append(f"<h3 id='nb-{_esc(e['number'])}'>{_esc(e['title'] or e['name'])}</h3>"
                     f"<p class='meta'>{_esc(e['name'])} · {_status(e['status'])} · {_seconds(e['seconds'])}"
                     f" · {_links(e, runs)}</p>{_figures(files.get(e['name'], []), runs)}"
                     f"{_small_tables(files.get(e['name'], []), runs)}")
    if other:
        parts.append(f"<h3>Other figures</h3>{_figures(other, runs)}{_small_tables(other, runs)}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Course report: "
            f"{_esc(runs.name)}</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def build_report(runs_dir: str | Path, render: bool = True, verbose: bool = True) -> Path:
    """Write RUNS/notebooks/html/*.html (unless render is false) and RUNS/index.html."""
    runs = Path(runs_dir)
    entries = notebook_entries(runs)
    if render:
        for e in entries:
            src = runs / "notebooks" / e["name"]
            if src.exists():
                try:
                    render_notebook(src, runs / HTML_DIR / (src.stem + ".html"))
                except Exception as err:  # one page that does not render must not cost the report
                    print(f"warning: could not render {src.name} as HTML: {type(err).__name__}: {err}")
    figs = runs / "figures"
    files = [f for f in figs.iterdir() if f.suffix.lower() in (".png", ".csv")] if figs.is_dir() else []
    by_nb, other = assign_files(files, entries)
    out = runs / INDEX
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(index_html(runs, entries, by_nb, other), encoding="utf-8")
    if verbose:
        print(f"course report: {out.resolve()}")
    return out
