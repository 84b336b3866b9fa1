"""Jobs in spawned processes: for work that holds the GIL (drawing phantoms, painting out
overlays: plain Python and NumPy per image) and trainings that scale badly over threads (the
grid's runs, notebook 09's: two processes of one math thread use both cores). Spawned, not
forked: a fork copies a notebook kernel's torch or OpenMP threads, and a forked child of a
process whose OpenMP pool already ran can hang. Functions and arguments must be picklable.

A kept pool (`keep=True`) outlives the call: starting two workers (importing torch and fastai)
costs about as much as training three of notebook 09's quick runs. Its workers ignore Ctrl-C:
an interrupt or a kernel's shutdown signals the whole process group, and idle workers would
each die printing a traceback. The caller cancels the queued jobs (one already running
finishes on its own), and the pool is shut down at exit.
"""

from __future__ import annotations

import atexit
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from helpers.parallel.jobs import CORES, Backend, Job, in_order, set_math_threads

PARALLEL_FROM = 64  # ordered_map: fewer items than this run in this process (starting others costs more)
_KEPT: dict = {}  # the kept pool, by (workers, threads): one at a time


def _init_worker(threads: int | None, quiet: bool) -> None:
    if quiet:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_math_threads(threads)


def pool(backend: Backend) -> ProcessPoolExecutor:
    """A new pool for `backend`, or its kept one."""
    key = (backend.workers, backend.threads)
    if backend.keep and key in _KEPT:
        return _KEPT[key]
    ex = ProcessPoolExecutor(backend.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(backend.threads, backend.keep))
    if backend.keep:
        forget()
        _KEPT[key] = ex
        atexit.register(ex.shutdown)
    return ex


def forget() -> None:
    """Shut the kept pool down (a later call starts a new one)."""
    for ex in _KEPT.values():
        ex.shutdown(wait=True, cancel_futures=True)
    _KEPT.clear()


def _chunk(jobs: list[Job]) -> list:
    return [job() for job in jobs]


def iterate(jobs: list[Job], backend: Backend) -> Iterator[tuple[int, object]]:
    """(index, result) of each job as its chunk finishes. An error raised by a job is raised
    here; queued jobs are then cancelled."""
    size = max(1, int(backend.chunksize))
    ex = pool(backend)
    futures = {}
    try:
        for start in range(0, len(jobs), size):
            futures[ex.submit(_chunk, jobs[start:start + size])] = start
        for f in as_completed(futures):
            yield from enumerate(f.result(), futures[f])  # re-raises a job's error here
    except BrokenProcessPool:
        if backend.keep:
            _KEPT.clear()  # a worker died (killed, out of memory): the next call starts afresh
        raise
    except BaseException:  # an error, Ctrl-C, or a consumer that stopped early
        for f in futures:
            f.cancel()
        raise
    finally:
        if not backend.keep:
            ex.shutdown(wait=True, cancel_futures=True)


def ordered_map(fn: Callable, items: Iterable, workers: int | None = None, min_items: int | None = None,
                chunksize: int = 8) -> Iterator:
    """fn(item) for each item, in order, in `workers` spawned processes (default: one per core)
    when there are at least `min_items` (default PARALLEL_FROM) items, else in this process:
    the same output as `map(fn, items)`."""
    items = list(items)
    min_items = PARALLEL_FROM if min_items is None else min_items
    workers = min(CORES if workers is None else workers, len(items))
    if workers <= 1 or len(items) < min_items:
        yield from map(fn, items)
        return
    backend = Backend("processes", workers=workers, chunksize=chunksize)
    for _, out in in_order(iterate([Job(fn, (item,)) for item in items], backend)):
        yield out
