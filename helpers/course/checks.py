"""What a reader should never meet in a course notebook, as checks the tests and the course
report share.

An executed notebook: no warning on stderr (`warning_lines`), no output cell with more than
LONG_BARS characters of progress-bar text (`long_outputs`: an executed notebook keeps one
short line per bar), and no stray value a cell's last line returned by accident
(`stray_results`: the Path `savefig` returns, a matplotlib object). A stored notebook: no hint that holds a line of its own solution
(`hint_leaks`: hints name the idea, never the line to write), and every exercise under a
markdown heading that says "Exercise" (`exercises_without_heading`).
"""

from __future__ import annotations

import re

from helpers.course.student import BEGIN, END

LONG_BARS = 2000  # characters of progress-bar text one output cell may hold
_WARNING = re.compile(r"\b[A-Z]\w*Warning\b:")  # 'FutureWarning: ...', 'UserWarning: ...'
_BAR = re.compile(r"\d+%\|.*\|")  # tqdm's '42%|████      | 21/50 [...]'
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_HINT = re.compile(r"#\s*HINT:", re.IGNORECASE)
_STRAY = re.compile(r"^(\w*Path\(|\[?<matplotlib\.|Text\()")


def _streams(cell, name: str | None = None) -> list[str]:
    return ["".join(o.get("text", "")) for o in cell.get("outputs", [])
            if o.get("output_type") == "stream" and (name is None or o.get("name") == name)]


def warning_lines(nb) -> list[str]:
    """Every warning line the notebook's code cells printed on stderr, as 'cell N: text'."""
    return [f"cell {i}: {line.strip()[:200]}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for text in _streams(c, "stderr") for line in text.splitlines() if _WARNING.search(line)]


def bar_chars(text: str) -> int:
    """Characters of progress-bar text in a stream: its bar lines (each carriage-return
    redraw counted) and any terminal escape codes."""
    parts = re.split(r"[\r\n]", text)
    return sum(len(p) for p in parts if _BAR.search(p)) + sum(len(m) for m in _ANSI.findall(text))


def long_outputs(nb, limit: int = LONG_BARS) -> list[str]:
    """'cell N: K characters of progress bars' for every code cell over `limit`."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            n = sum(bar_chars(t) for t in _streams(c))
            if n > limit:
                out.append(f"cell {i}: {n} characters of progress bars")
    return out


def stray_results(nb) -> list[str]:
    """'cell N: value' for each cell whose displayed result is a path or a bare matplotlib
    object (a figure shown as an image is not stray)."""
    out = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            data = o.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if o.get("output_type") == "execute_result" and "image/png" not in data and _STRAY.match(text):
                out.append(f"cell {i}: {text[:120]}")
    return out


def _code(line: str) -> str:
    """A line of code without its comment, whitespace or case, for comparing."""
    return re.sub(r"\s+", "", line.split("#", 1)[0]).lower()


def _solution_blocks(source: str):
    """(hint lines, solution lines) of each solution block: the hint is the comment run from
    `# HINT:` down to the block."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(BEGIN):
            j = i
            while j > 0 and lines[j - 1].strip().startswith("#"):
                j -= 1
            above = lines[j:i]
            start = next((k for k, h in enumerate(above) if _HINT.search(h)), len(above))
            end = next((k for k in range(i + 1, len(lines)) if lines[k].strip().startswith(END)), len(lines))
            yield above[start:], lines[i + 1:end]


def hint_leaks(nb, shortest: int = 6) -> list[str]:
    """'cell N: <solution line>' for each solution line (of at least `shortest` characters of
    code) that a hint line of its block contains."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code" or BEGIN not in c.source:
            continue
        for hints, solution in _solution_blocks(c.source):
            said = [re.sub(r"\s+", "", _HINT.sub("", h).lstrip("# ")).lower() for h in hints]
            for line in solution:
                code = _code(line)
                if len(code) >= shortest and any(code in h for h in said):
                    out.append(f"cell {i}: {line.strip()}")
    return out


def exercises_without_heading(nb) -> list[str]:
    """'cell N' for each cell with a solution block whose nearest markdown heading above does
    not contain 'Exercise'."""
    heading, out = "", []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            heads = [line for line in c.source.splitlines() if line.lstrip().startswith("#")]
            heading = heads[-1] if heads else heading
        elif BEGIN in c.source and "exercise" not in heading.lower():
            out.append(f"cell {i} (under {heading.strip() or 'no heading'!r})")
    return out
