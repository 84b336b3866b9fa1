"""Every thread pool, process pool and Ray in the package, behind one call:
`run([Job(fn, args), ...], Backend("processes", workers=2, threads=1), progress=True)` returns
the results in job order; `results` yields (index, result) as jobs finish (or in order). The
backends (helpers.parallel.jobs.Backend): threads (below; `side_by_side(n_jobs, device)` picks
them on a CPU) for the GAN class models, notebook 05's runs and the quality jobs; processes
(helpers.parallel.processes) for the grid's and notebook 09's runs (on a GPU, `gpu_processes`:
several runs sharing it) and `ordered_map`'s
per-image work (the phantom writer, overlay masking), and the course's notebooks, two at a time,
each after those it reads from (`after=`); Ray (helpers.parallel.ray_tasks) for the grid on a
cluster.

On every backend the numbers are those of one after another: a job's result depends only on its
arguments and its math thread count. Ctrl-C or a job's error stops the others (threads: at their
next training step; processes: Ctrl-C kills the workers at once, an error lets the running jobs
finish; Ray: the jobs not started yet) and is raised here. A job's
dependencies (a Job given as an argument) run first, once each: on Ray as tasks of their own,
elsewhere here, in the calling process.

In threads, prepared jobs are prepared in the calling thread before the first thread starts.
While they run, Ctrl-C only raises STOP (a KeyboardInterrupt inside concurrent.futures' own
locking could leave a lock held and hang the process): each training stops at its next step
and says where; an error in one job stops the others the same way. The first error is raised:
a job's own, else the interruption as a training words it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from helpers.errors import Interrupted, SettingError
from helpers.parallel import processes, ray_tasks
from helpers.parallel.jobs import (
    INLINE,
    KINDS,
    STOP,
    Backend,
    Job,
    gpu_processes,
    in_order,
    side_by_side,
    task,
)
from helpers.parallel.processes import ordered_map

__all__ = ["Backend", "Job", "INLINE", "STOP", "gpu_processes", "ordered_map", "results", "run", "side_by_side",
           "task"]

INTERRUPTED = "interrupted; run the same command to resume."


def results(jobs: Iterable[Job], backend: Backend = INLINE, ordered: bool = True,
            progress: bool = False, after: dict | None = None) -> Iterator[tuple[int, object]]:
    """(index, result) of each job, in job order (`ordered`) or as each finishes. `after`
    ({index: indices}): jobs that must finish before a job starts (processes: the first ready
    job in job order takes each free worker; inline: one after another in that order)."""
    jobs = list(jobs)
    if backend.kind not in KINDS:
        raise SettingError(f"Unknown backend {backend.kind!r}; choose one of {', '.join(KINDS)}.")
    if not jobs:
        return
    if after and backend.kind not in ("inline", "processes"):
        raise SettingError(f"Jobs that wait for others run inline or in processes, not on {backend.kind}.")
    if backend.kind == "ray":
        done = ray_tasks.iterate(jobs, backend, progress)
    else:
        jobs = _resolved(jobs)
        workers = min(backend.workers, len(jobs))
        if backend.kind == "processes":
            done = processes.iterate(jobs, backend, after)
        elif backend.kind == "threads" and workers > 1:
            done = _in_threads(jobs, workers)
        else:  # one after another, each prepared right before it runs
            done = ((i, jobs[i]()) for i in _in_turn(len(jobs), after or {}))
    yield from in_order(done) if ordered else done


def _in_turn(n: int, after: dict) -> list[int]:
    """Job indices one after another: each time the first whose `after` jobs have all run."""
    order: list[int] = []
    while len(order) < n:
        ready = [i for i in range(n) if i not in order and set(after.get(i, ())) <= set(order)]
        if not ready:
            raise SettingError(f"jobs {sorted(set(range(n)) - set(order))} wait for jobs that never run: {after}")
        order.append(ready[0])
    return order


def run(jobs: Iterable[Job] | dict, backend: Backend = INLINE, progress: bool = False, desc: str = "jobs",
        unit: str = "job", postfix: Callable[[object], str] | None = None, after: dict | None = None) -> list | dict:
    """Every job's result, in job order ({key: result} for jobs {key: Job}). With `progress`, a
    bar counts the finished jobs (its label says where they run; `postfix(result)` names the
    last one). `after`: as for `results`, by job index."""
    keys = list(jobs) if isinstance(jobs, dict) else None
    jobs = list(jobs.values()) if keys is not None else list(jobs)
    out = [None] * len(jobs)
    where = backend.describe()
    with tqdm(total=len(jobs), desc=f"{desc} ({where})" if where else desc, unit=unit, disable=not progress) as bar:
        for i, result in results(jobs, backend, ordered=False, progress=progress, after=after):
            out[i] = result
            if postfix is not None:
                bar.set_postfix_str(postfix(result))
            bar.update(1)
    return dict(zip(keys, out)) if keys is not None else out


def _resolved(jobs: list[Job], done: dict | None = None) -> list[Job]:
    """The jobs with each dependency replaced by its result, computed here once."""
    done = {} if done is None else done

    def value(arg):
        if not isinstance(arg, Job):
            return arg
        if id(arg) not in done:
            done[id(arg)] = _resolved([arg], done)[0]()
        return done[id(arg)]

    return [Job(j.fn, tuple(value(a) for a in j.args), {k: value(v) for k, v in j.kwargs.items()}, j.prepared,
                j.gpu_shares) for j in jobs]


def _in_threads(jobs: list[Job], workers: int) -> Iterator[tuple[int, object]]:
    """(index, result) of each job as it finishes, in threads of one math thread each."""
    import torch  # loaded already by any job that trains; here for its thread count

    # prepared jobs are prepared here, in the calling thread: models are built and seeded now
    calls = [job.fn(*job.args, **job.kwargs) if job.prepared else job for job in jobs]
    main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, lambda *_: STOP.set()) if main else None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="side-by-side")
    try:
        with threadpool_limits(1, user_api="blas"):
            futures = {pool.submit(call): i for i, call in enumerate(calls)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done) or STOP.is_set():
                    _stop(list(futures))
                yield from ((futures[f], f.result()) for f in sorted(done, key=futures.get))
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
