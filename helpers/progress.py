"""Progress bars that read well in an executed notebook.

In a Jupyter kernel `tqdm.auto` draws an ipywidgets bar. A live JupyterLab updates it, but a
notebook executed by papermill keeps only the widget's text at the moment it was displayed:
"0%|          | 0/49". The course runner (helpers.course.runner.execute) therefore sets
COURSE_PROGRESS=text for its kernels, and importing `helpers` then swaps `tqdm.auto.tqdm` for
the plain text bar below, which always prints its final state when it closes. With the
runner's stream coalescing (the carriage returns resolved) each bar is one line at 100%.
"""

from __future__ import annotations

import os

ENV = "COURSE_PROGRESS"
TEXT = "text"
MININTERVAL = 2.0  # seconds between redraws: a log, not an animation


def configure(environ=None) -> bool:
    """Called when `helpers` is imported: when the runner asked for text bars, make
    `from tqdm.auto import tqdm` (and trange) give tqdm's plain bar that keeps its last line
    (leave=True) and redraws rarely."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV, "").lower() != TEXT:
        return False
    import tqdm.auto
    from tqdm.std import tqdm as std_tqdm

    class TextBar(std_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["leave"] = True  # a bar cleared at close would leave nothing to read
            # one line for every bar: bars of models trained side by side in threads would
            # otherwise each take a row and move the cursor between them, and a stored
            # notebook keeps every intermediate state of those rows
            kwargs["position"] = 0
            kwargs.setdefault("mininterval", MININTERVAL)
            super().__init__(*args, **kwargs)

    tqdm.auto.tqdm = TextBar
    tqdm.auto.trange = lambda *args, **kwargs: TextBar(range(*args), **kwargs)
    return True
