"""Jobs in spawned processes: for work that holds the GIL (drawing phantoms, painting out
overlays: plain Python and NumPy per image) and trainings that scale badly over threads (the
grid's runs, notebook 09's: two processes of one math thread use both cores). Spawned, not
forked: a fork copies a notebook kernel's torch or OpenMP threads, and a forked child of a
process whose OpenMP pool already ran can hang. Functions and arguments must be picklable.

A kept pool (`keep=True`) outlives the call: starting two workers (importing torch and fastai)
costs about as much as training three of notebook 09's quick runs. It is shut down at exit.

Interrupts and deaths end every worker within seconds. Workers ignore Ctrl-C (a terminal or a
kernel signals the whole process group; an idle worker would die printing a traceback, a busy
one go on to its next queued job): the caller's first Ctrl-C kills them at once, so no queued
job starts and a running one stops where it is (a training resumes from its last checkpoint);
a second Ctrl-C while the pool shuts down is ignored, so it can never leave a lock held and
hang the exit. A worker whose caller died (SIGKILL, an out-of-memory kill) ends itself within
WATCH seconds, and with the last one the multiprocessing resource tracker.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from helpers.errors import SettingError
from helpers.parallel.jobs import CORES, Backend, Job, in_order, set_math_threads

PARALLEL_FROM = 64  # ordered_map: fewer items than this run in this process (starting others costs more)
_KEPT: dict = {}  # the kept pool, by (workers, threads): one at a time
WATCH = 0.5  # seconds between a worker's checks that its caller is alive


def _init_worker(threads: int | None, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller ends its workers itself (see above)
    # tqdm's default lock is a named semaphore: a worker killed on Ctrl-C would leak it, and the
    # resource tracker would warn about it after the caller's last line
    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_die_with, args=(parent,), name="parent-watch", daemon=True).start()
    set_math_threads(threads)


def _die_with(parent: int) -> None:
    """End this worker once `parent` is gone: nobody would read its results, and it would train
    every queued job for nothing (its pid's parent changes when the parent dies)."""
    while os.getppid() == parent:
        time.sleep(WATCH)
    os.kill(os.getpid(), signal.SIGKILL)  # at once, wherever the main thread is


def _kill(ex: ProcessPoolExecutor) -> None:
    """Kill the pool's workers now (ProcessPoolExecutor has no public call for it before 3.14)."""
    for p in list((getattr(ex, "_processes", None) or {}).values()):
        p.kill()


def pool(backend: Backend) -> ProcessPoolExecutor:
    """A new pool for `backend`, or its kept one."""
    key = (backend.workers, backend.threads)
    if backend.keep and key in _KEPT:
        return _KEPT[key]
    ex = ProcessPoolExecutor(backend.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(backend.threads, os.getpid()))
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


def iterate(jobs: list[Job], backend: Backend, after: dict | None = None) -> Iterator[tuple[int, object]]:
    """(index, result) of each job as its chunk finishes. An error raised by a job is raised
    here; queued jobs are then cancelled. Ctrl-C kills the workers (see the module's note).
    `after` ({index: indices}): a job starts once those have finished; then at most `workers`
    jobs are handed out at a time, each the first ready one in job order (job order is the
    priority: a job queued early would otherwise hold back one that became ready later)."""
    size = 1 if after else max(1, int(backend.chunksize))
    chunks = {start: jobs[start:start + size] for start in range(0, len(jobs), size)}
    needs = {i: set(after.get(i, ())) for i in chunks} if after else {}
    ex = pool(backend)
    futures = {}
    stopping, waiting = threading.Event(), threading.Event()

    def on_ctrl_c(*_):
        if stopping.is_set():
            return  # a second Ctrl-C: the workers are gone already, the pool is closing
        stopping.set()
        _kill(ex)
        if not waiting.is_set():  # the caller's code runs (between two results): interrupt it as usual
            raise KeyboardInterrupt
        # else raised below: an exception from a signal handler can surface anywhere, even inside
        # a string `exec` (`python -m` then dies by SIGINT instead of exiting 130)

    # Python runs signal handlers in the main thread only, and only between bytecodes: the
    # waits below are short so that it runs soon even when another thread received the signal
    main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, on_ctrl_c) if main else None
    def hand_out(pending: set) -> None:
        for start in [i for i in chunks if not needs.get(i)]:
            if after and len(pending) >= backend.workers:
                break
            f = ex.submit(_chunk, chunks.pop(start))
            futures[f] = start
            pending.add(f)

    try:
        pending = set()
        hand_out(pending)
        while pending:
            waiting.set()
            done, pending = wait(pending, timeout=WATCH, return_when=FIRST_COMPLETED)
            if stopping.is_set():
                raise KeyboardInterrupt
            waiting.clear()
            for f in done:
                yield from enumerate(f.result(), futures[f])  # re-raises a job's error here
                for waits in needs.values():
                    waits.discard(futures[f])
            hand_out(pending)
        if chunks:  # a dependency that is not one of the jobs, or a cycle
            raise SettingError(f"jobs {sorted(chunks)} wait for jobs that never finish: {after}")
    except BaseException as e:  # an error, Ctrl-C, or a consumer that stopped early
        for f in futures:
            f.cancel()
        interrupted = stopping.is_set() or isinstance(e, KeyboardInterrupt)
        if interrupted:
            stopping.set()
            _kill(ex)
        if backend.keep and (interrupted or isinstance(e, BrokenProcessPool)):
            _KEPT.clear()  # its workers died (Ctrl-C, killed, out of memory): the next call starts afresh
        if interrupted and isinstance(e, BrokenProcessPool):
            raise KeyboardInterrupt from None  # the workers Ctrl-C killed
        raise
    finally:
        if not backend.keep or stopping.is_set():
            ex.shutdown(wait=True, cancel_futures=True)
        if main:  # None: a handler set outside Python
            signal.signal(signal.SIGINT, signal.default_int_handler if old_handler is None else old_handler)


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
