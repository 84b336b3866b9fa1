"""The training steps live in the notebooks; the package keeps an exact copy.

A notebook cell that starts with `# export: helpers/<module>.py` holds code the package
also needs (each generator's training step). The module keeps a hand-written preamble
(docstring, imports) above the line `EXPORTED`; everything below it is the exported cells,
in notebook order, each under a `# from notebooks/<name>` line. `check()` lists the modules
whose exported part differs from the notebooks (a test fails on any), and `check(write=True)`
copies the notebooks' cells into the modules (`python -m helpers export`): edit the step in the
notebook, run the export, and the package follows. This is d2l's `#@save` idea.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from helpers.course.notebooks import notebooks

EXPORTED = "# ---- exported from the notebooks: edit the cells there, then `python -m helpers export` ----"
_MARK = re.compile(r"^# export: (\S+)\s*$")
ROOT = Path(__file__).resolve().parents[2]  # the project: helpers/course/export.py


def exported_cells(notebooks_dir: str | Path = ROOT / "notebooks") -> dict[str, list[tuple[str, str]]]:
    """{module path (relative to the project): [(notebook name, cell source without the mark)]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    for nb_path in notebooks(notebooks_dir):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            lines = cell.source.splitlines()
            if cell.cell_type == "code" and lines and (m := _MARK.match(lines[0])):
                out.setdefault(m.group(1), []).append((nb_path.name, "\n".join(lines[1:]).strip("\n")))
    return out


def render(preamble: str, cells: list[tuple[str, str]]) -> str:
    body = "\n\n\n".join(f"# from notebooks/{name}\n{src}" for name, src in cells)
    return f"{preamble.rstrip()}\n\n\n{EXPORTED}\n\n{body}\n"


def check(notebooks_dir: str | Path = ROOT / "notebooks", root: str | Path = ROOT,
          write: bool = False) -> list[str]:
    """Modules whose exported part differs from their notebook cells (empty: all in sync); with
    `write`, those modules get the cells copied in."""
    differ = []
    for module, cells in exported_cells(notebooks_dir).items():
        path = Path(root) / module
        text = path.read_text()
        if EXPORTED not in text:
            raise ValueError(f"{path} has no line '{EXPORTED}' to export below")
        new = render(text.partition(EXPORTED)[0], cells)
        if text != new:
            differ.append(module)
            if write:
                path.write_text(new)
    return differ


def sync(notebooks_dir: str | Path | None = None, check_only: bool = False) -> int:
    """`python -m helpers export`: copy the cells into the modules, or with `check_only` only say
    which modules differ. Prints one line; returns the exit status (1: they differ)."""
    nb_dir = notebooks_dir or ROOT / "notebooks"
    if check_only:
        bad = check(nb_dir)
        print("in sync" if not bad else "differ from the notebooks: " + ", ".join(bad))
        return 1 if bad else 0
    changed = check(nb_dir, write=True)
    print("updated: " + ", ".join(changed) if changed else "nothing to update")
    return 0
