"""Map a function over many independent items in spawned processes, one per core.

For per-image work in plain Python and NumPy (drawing phantoms, painting out overlays) that a
single process would do on one core while the others idle. Results come back in the items'
order, so the output is the same as `map(fn, items)`. Processes are spawned, not forked: the
caller may be a notebook kernel whose torch threads a fork would copy. `fn` and the items must
be picklable (a function defined at the top level of a module).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

PARALLEL_FROM = 64  # fewer items than this run in this process: starting others would cost more


def ordered_map(fn: Callable, items: Iterable, workers: int | None = None, min_items: int | None = None,
                chunksize: int = 8) -> Iterator:
    """fn(item) for each item, in order, in `workers` processes (default: one per core) when
    there are at least `min_items` (default PARALLEL_FROM) items, else in this process."""
    items = list(items)
    min_items = PARALLEL_FROM if min_items is None else min_items
    workers = min((os.cpu_count() or 1) if workers is None else workers, len(items))
    if workers <= 1 or len(items) < min_items:
        yield from map(fn, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield from ex.map(fn, items, chunksize=chunksize)
