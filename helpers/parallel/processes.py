"""Jobs in spawned processes.

For work that holds the GIL (drawing phantoms, painting out overlays: plain Python and
NumPy per image) and for trainings that scale badly over threads (the classifier grid's cells,
notebook 09's runs: two processes of one math thread use both cores). Processes are spawned,
not forked: the caller may be a notebook kernel whose torch or OpenMP threads a fork would
copy, and a forked child of a process whose OpenMP pool already ran can hang. A job's function
and arguments must be picklable (a function defined at the top level of a module).

A kept pool (`keep=True`) outlives the call: notebook 09 runs a few trainings at a time, and
starting two workers (importing torch and fastai) costs about as much as training three quick
ones. Its workers ignore Ctrl-C: an interrupt or a kernel's shutdown signals the whole process
group, and idle workers would each die printing a KeyboardInterrupt traceback. The caller
handles Ctrl-C (queued jobs are cancelled; a job already running finishes on its own), and
the pool is shut down at exit.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from helpers.parallel.jobs import Backend, Job, execute, set_math_threads

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


def _chunk(calls: list) -> list:
    return [execute(*c) for c in calls]


def iterate(jobs: list[Job], backend: Backend, ordered: bool = True) -> Iterator[tuple[int, object]]:
    """(index, result) of each job, in job order or as they finish. An error raised by a job
    is raised here; queued jobs are then cancelled."""
    size = max(1, int(backend.chunksize))
    chunks = [list(range(i, min(i + size, len(jobs)))) for i in range(0, len(jobs), size)]
    ex = pool(backend)
    futures = []
    try:
        futures = [ex.submit(_chunk, [(jobs[i].fn, jobs[i].prepared, jobs[i].args, jobs[i].kwargs) for i in c])
                   for c in chunks]
        done = futures if ordered else as_completed(futures)
        index = {f: c for f, c in zip(futures, chunks)}
        for f in done:
            yield from zip(index[f], f.result())  # re-raises a job's error here
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
    workers = min((os.cpu_count() or 1) if workers is None else workers, len(items))
    if workers <= 1 or len(items) < min_items:
        yield from map(fn, items)
        return
    backend = Backend("processes", workers=workers, chunksize=chunksize)
    for _, out in iterate([Job(fn, (item,)) for item in items], backend):
        yield out
