"""What the parallel backends share: a job, a backend's settings, the stop flag.

A `Job` is a function and its arguments; an argument may itself be a Job, a dependency run
once however many jobs name it. A job whose `prepared` is true is split in two: its function
runs in the calling thread and returns the callable that does the long work (on the threads
backend the calls run one after another before any worker starts; elsewhere both halves run
where the job runs). That is how trainings run side by side in threads without a
process-wide lock: a model is built and seeded (torch's global generator) in the calling
thread, and its loop, which draws only from the run's own torch.Generator, in a worker.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

KINDS = ("inline", "threads", "processes", "ray")

# Set when Ctrl-C reaches the main thread while jobs run in threads, or when one job fails:
# every training loop checks it before each step and stops as if interrupted itself
# (checkpoint kept, resumable), instead of training on unseen.
STOP = threading.Event()

# Jobs at once in threads on a CPU: one more than there are cores. A small model gains little
# from a second math thread (the quick WGAN-GP step: 0.72 s with one, 0.78 s with two), while a
# second job beside the first uses the other core; torch releases the GIL inside its
# operations. With one job more than cores, three GAN class models on two cores share them to
# the end (the quick WGAN's three models: 61 s) instead of the third training alone (79 s).
CORES = os.cpu_count() or 1
SIDE_BY_SIDE = CORES + 1 if CORES >= 2 else 1

# Small classifier runs leave a GPU mostly idle (bound by per-batch overhead): by default four
# share one, as Ray tasks of a quarter GPU each or as four processes of the local executor.
GPU_SHARE = 0.25
RUNS_PER_GPU = round(1 / GPU_SHARE)


@dataclass(frozen=True)
class Job:
    """fn(*args, **kwargs); with `prepared`, fn(*args, **kwargs)() (see the module's note).
    `gpu_shares`: how many of the backend's per-job GPU shares the job takes (Ray on GPUs).
    Calling the job does its work, wherever it runs."""

    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    prepared: bool = False
    gpu_shares: float = 1.0

    def __call__(self):
        out = self.fn(*self.args, **self.kwargs)
        return out() if self.prepared else out


def task(fn: Callable, *args, **kwargs) -> Job:
    """Job(fn, args, kwargs): a plain job, written like a call."""
    return Job(fn, args, kwargs)


@dataclass(frozen=True)
class Backend:
    """Where jobs run.

    inline     one after another in this thread (the default; nothing is started)
    threads    `workers` threads of one math thread each (torch's and BLAS's), in this process:
               for torch work that releases the GIL; Ctrl-C or a job's error stops the others
    processes  `workers` spawned processes of `threads` math threads each (None: torch's
               default); `keep` keeps the pool for the next call with the same settings
               (starting workers that import torch costs seconds); `chunksize` jobs per round
               trip for many small jobs
    ray        Ray tasks of `cpus` CPUs (and `threads` math threads) and, where the cluster has
               GPUs, `gpus` of one (None: 0.25); joins `address` or RAY_ADDRESS, else starts a
               local Ray of `num_cpus`; a task whose worker dies is retried `max_retries` times
    """

    kind: str = "inline"
    workers: int = 1
    threads: int | None = None
    keep: bool = False
    chunksize: int = 1
    cpus: float = 1
    gpus: float | None = None
    address: str | None = None
    num_cpus: int | None = None
    max_retries: int = 2

    def describe(self) -> str:
        if self.kind in ("threads", "processes"):
            return f"{self.workers} {self.kind}"
        return "" if self.kind == "inline" else self.kind


INLINE = Backend()


def side_by_side(n_jobs: int, device: str = "cpu") -> Backend:
    """Threads for independent torch or numpy jobs on a CPU (SIDE_BY_SIDE at once); inline on a
    GPU, where they would queue on the one device anyway, or for one job, which then keeps
    every math thread."""
    if str(device) != "cpu" or n_jobs < 2 or SIDE_BY_SIDE < 2:
        return INLINE
    return Backend("threads", workers=min(n_jobs, SIDE_BY_SIDE))


def in_order(pairs: Iterable[tuple[int, object]]) -> Iterator[tuple[int, object]]:
    """(index, result) pairs that arrive as jobs finish, yielded in job order."""
    ready, next_i = {}, 0
    for i, result in pairs:
        ready[i] = result
        while next_i in ready:
            yield next_i, ready.pop(next_i)
            next_i += 1


def gpu_processes(workers: int | None, n_jobs: int) -> Backend:
    """Jobs that each train on the one GPU, `workers` at a time (None: RUNS_PER_GPU) in spawned
    processes sharing the host's cores; one job, or one worker: inline."""
    workers = min(RUNS_PER_GPU if workers is None else int(workers), n_jobs)
    if workers < 2:
        return INLINE
    return Backend("processes", workers=workers, threads=max(1, CORES // workers))


def set_math_threads(threads: int | None) -> None:
    """torch's intra-op threads in this process (a worker's initialiser). torch is imported here,
    not at the top: spawned workers for per-image NumPy work never load it."""
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))
