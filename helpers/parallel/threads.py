"""Jobs in threads of one math thread each, in this process.

For torch work (small models train about as fast on one math thread as on two, and torch
releases the GIL inside its operations) and NumPy loops: N jobs on N cores. Prepared jobs are
prepared here, in the calling thread, one after another, before the first thread starts (see
helpers.parallel.jobs). While the jobs run, Ctrl-C only raises the STOP flag (a
KeyboardInterrupt inside concurrent.futures' own locking could leave a lock held and hang the
process): each training stops at its next step and says where; an error in one job stops the
others the same way. The first error is raised: a job's own error first, else the
interruption as a training words it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import partial

from threadpoolctl import threadpool_limits

from helpers.errors import Interrupted
from helpers.parallel.jobs import STOP, Backend, Job, execute

INTERRUPTED = "interrupted; run the same command to resume."


def iterate(jobs: list[Job], backend: Backend, ordered: bool = True) -> Iterator[tuple[int, object]]:
    """(index, result) of each job, in job order or as they finish."""
    workers = min(backend.workers, len(jobs))
    if workers <= 1:  # one after another, each prepared right before it runs
        for i, job in enumerate(jobs):
            yield i, execute(job.fn, job.prepared, job.args, job.kwargs)
        return
    # prepared jobs are prepared here, in the calling thread: models are built and seeded now
    calls = [job.fn(*job.args, **job.kwargs) if job.prepared else partial(job.fn, *job.args, **job.kwargs)
             for job in jobs]
    yield from _in_threads(calls, workers, ordered)


def _stop_on_ctrl_c():
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: STOP.set())


def _in_threads(calls: list, workers: int, ordered: bool) -> Iterator[tuple[int, object]]:
    import torch  # loaded already by any job that trains; here for its thread count

    old_handler = _stop_on_ctrl_c()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="side-by-side")
    try:
        with threadpool_limits(1, user_api="blas"):
            futures = [pool.submit(call) for call in calls]
            index = {f: i for i, f in enumerate(futures)}
            pending, ready, next_i = set(futures), {}, 0
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done) or STOP.is_set():
                    _stop(futures)
                for f in sorted(done, key=index.get):
                    ready[index[f]] = f.result()
                if not ordered:
                    yield from ((i, ready.pop(i)) for i in list(ready))
                while next_i in ready:
                    yield next_i, ready.pop(next_i)
                    next_i += 1
    finally:
        STOP.set()  # a consumer that stopped early: the jobs still running stop at their next step
        pool.shutdown(wait=True, cancel_futures=True)
        STOP.clear()
        torch.set_num_threads(threads)
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)


def _stop(futures: list) -> None:
    """Stop every job at its next step and raise the first error (see the module's note)."""
    STOP.set()
    for f in futures:
        f.cancel()
    wait(futures)
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception()]
    own = [e for e in errors if not isinstance(e, (Interrupted, KeyboardInterrupt))]
    told = [e for e in errors if isinstance(e, Interrupted)]
    raise (own or told or [Interrupted(INTERRUPTED)])[0]
