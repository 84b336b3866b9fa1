"""One way to run independent jobs side by side: every thread pool, process pool and Ray in
the package lives here, behind one call.

    from helpers.parallel import Backend, Job, run
    results = run([Job(fn, args) ...], Backend("processes", workers=2, threads=1),
                  progress=True, desc="classifier grid", unit="run")

`run` returns the results in job order; `results` yields (index, result) as the jobs finish
(or in order). The backends (helpers.parallel.jobs.Backend):

- inline: one after another in this thread;
- threads: threads of one math thread each (helpers.parallel.threads): the GAN class models,
  notebook 05's runs, the quality jobs; `side_by_side(n_jobs, device)` picks it on a CPU;
- processes: spawned processes of N math threads, kept between calls where that pays
  (helpers.parallel.processes): the classifier grid's runs, notebook 09's runs, and
  `ordered_map` for per-image work (the phantom writer, overlay masking);
- ray: Ray tasks with declared CPU and GPU fractions (helpers.parallel.ray_tasks): the grid on
  a cluster.

On every backend the numbers are those of one after another: a job's result depends only on its
arguments and its math thread count. Ctrl-C or a job's error stops the others (threads: at their
next training step; processes and Ray: the jobs not started yet) and is raised here. A job's
dependencies (a Job given as an argument) run first: on Ray as tasks of their own, elsewhere
here, in the calling process, once each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from tqdm.auto import tqdm

from helpers.errors import SettingError
from helpers.parallel import processes, ray_tasks, threads
from helpers.parallel.jobs import (  # noqa: F401  (the interface)
    INLINE,
    KINDS,
    SIDE_BY_SIDE,
    STOP,
    Backend,
    Job,
    execute,
    side_by_side,
    task,
)
from helpers.parallel.processes import ordered_map  # noqa: F401

__all__ = ["Backend", "Job", "INLINE", "STOP", "ordered_map", "results", "run", "side_by_side", "task"]


def results(jobs: Iterable[Job], backend: Backend = INLINE, ordered: bool = True,
            progress: bool = False) -> Iterator[tuple[int, object]]:
    """(index, result) of each job, in job order (`ordered`) or as each finishes."""
    jobs = list(jobs)
    if backend.kind not in KINDS:
        raise SettingError(f"Unknown backend {backend.kind!r}; choose one of {', '.join(KINDS)}.")
    if not jobs:
        return
    if backend.kind == "ray":
        yield from ray_tasks.iterate(jobs, backend, ordered, progress)
        return
    jobs = _resolved(jobs)
    if backend.kind == "processes":
        yield from processes.iterate(jobs, backend, ordered)
    elif backend.kind == "threads":
        yield from threads.iterate(jobs, backend, ordered)
    else:
        for i, job in enumerate(jobs):
            yield i, execute(job.fn, job.prepared, job.args, job.kwargs)


def run(jobs: Iterable[Job] | dict, backend: Backend = INLINE, progress: bool = False, desc: str = "jobs",
        unit: str = "job", postfix: Callable[[object], str] | None = None) -> list | dict:
    """Every job's result, in job order ({key: result} for jobs {key: Job}). With `progress`, a
    bar counts the finished jobs (its label says where they run; `postfix(result)` names the
    last one)."""
    keys = list(jobs) if isinstance(jobs, dict) else None
    jobs = list(jobs.values()) if keys is not None else list(jobs)
    out = [None] * len(jobs)
    where = backend.describe()
    with tqdm(total=len(jobs), desc=f"{desc} ({where})" if where else desc, unit=unit, disable=not progress) as bar:
        for i, result in results(jobs, backend, ordered=False, progress=progress):
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
            a = _resolved([arg], done)[0]
            done[id(arg)] = execute(a.fn, a.prepared, a.args, a.kwargs)
        return done[id(arg)]

    return [Job(j.fn, tuple(value(a) for a in j.args), {k: value(v) for k, v in j.kwargs.items()}, j.prepared,
                j.gpu_shares) for j in jobs]
