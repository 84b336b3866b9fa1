"""Which files are the course notebooks, in what order, and which must run before which.

Notebooks are found by name (`notebooks/NN_*.ipynb`, and `NNb_*.ipynb` for a short companion
that follows notebook NN), so one added later is picked up without edits by the runner, the
report, the student copies, the nbgrader release and the export of the training steps. The
runner, two at a time, starts a notebook once those it reads from have run (`NEEDS`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from helpers.errors import DataError

NOTEBOOK_GLOB = "[0-9][0-9]*_*.ipynb"
NOTEBOOK_NAME = re.compile(r"^\d\d[a-z]?_.+\.ipynb$")  # 05_cwgan, 05b_cwgan_histopathology


def notebooks(notebooks_dir: str | Path, only: list[str] | None = None,
              required: bool = False) -> list[Path]:
    """The course notebooks in order: 05_* before 05b_* ('_' sorts before letters); with `only`,
    those whose names start with one of its prefixes. `required`: none is an error."""
    found = sorted(p for p in Path(notebooks_dir).glob(NOTEBOOK_GLOB) if NOTEBOOK_NAME.match(p.name)
                   and (not only or any(p.name.startswith(o) for o in only)))
    if required and not found:
        raise DataError(f"No course notebooks (NN_*.ipynb) in {notebooks_dir}; run from the course folder or pass "
                        "--notebooks-dir.")
    return found


# What each notebook reads that another one writes, by number: a notebook starts once these
# have run (the runner runs two at a time). 06b and 08 draw the per-class set of notebook 06's
# DDPM, 06c loads that model, 07 scores the sets of 03-06c, 08 the same sets again, 09 reuses
# notebook 04's DCGAN; 05b works in a folder of its own. A notebook not listed here waits for
# every notebook before it.
NEEDS = {"01": (), "02": ("01",), "03": ("02",), "04": ("02",), "05": ("02",), "05b": ("02",), "06": ("02",),
         "06b": ("06",), "06c": ("06",), "07": ("03", "04", "05", "06", "06c"), "08": ("06b", "07"),
         "09": ("04",)}


def number(nb: str | Path) -> str:
    """'05b' for notebooks/05b_cwgan_histopathology.ipynb."""
    return Path(nb).name.split("_", 1)[0]


def prerequisites(todo: list[Path]) -> dict[str, set[str]]:
    """{notebook number: the numbers in `todo` that must run before it}: its NEEDS, followed
    through the notebooks left out of `todo` (with `--only 03 07`, 07 waits for 03 alone)."""
    numbers = [number(nb) for nb in todo]

    def direct(n: str) -> set[str]:
        return set(NEEDS[n]) if n in NEEDS else {m for m in numbers if m < n}

    out = {}
    for n in numbers:
        seen, stack, first = set(), list(direct(n)), set()
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            if m in numbers:
                first.add(m)
            else:
                stack.extend(direct(m))
        out[n] = first
    return out


# Rough minutes of each notebook on quick (2 CPU cores, one at a time): only to pick which
# ready notebook a free worker takes, so that a long one does not start last and run alone.
MINUTES = {"01": 1, "02": 0.5, "03": 4.5, "04": 2, "05": 3, "05b": 3, "06": 4, "06b": 1.5, "06c": 1, "07": 2.5,
           "08": 3, "09": 5}


def by_priority(todo: list[Path]) -> list[Path]:
    """`todo` in the order a free worker should take them: the longest chain of minutes still to
    run after a notebook starts (06 -> 06c -> 07 -> 08) first, then by name."""
    needs = prerequisites(todo)

    @functools.cache
    def chain(n: str) -> float:
        return MINUTES.get(n, 1) + max((chain(m) for m, before in needs.items() if n in before), default=0)

    return sorted(todo, key=lambda nb: (-chain(number(nb)), nb.name))
