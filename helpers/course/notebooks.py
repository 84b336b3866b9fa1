"""Which files are the course notebooks, and in what order.

Notebooks are found by name (`notebooks/NN_*.ipynb`, and `NNb_*.ipynb` for a short companion
that follows notebook NN), so one added later is picked up without edits by the runner, the
report, the student copies, the nbgrader release and the export of the training steps.
"""

from __future__ import annotations

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
