"""Jobs as Ray tasks: how work scales past one machine. Ray is optional (`pip install .[ray]`)
and imported only when this backend runs.

Each task declares `cpus` CPUs and, where the cluster has GPUs, a fraction of one (`gpus`,
default 0.25: four small classifiers share a GPU; times a job's `gpu_shares`). A dependency is
a task of its own, submitted once, its result handed to every task that needs it; an argument
shared by several jobs (a records table) is put in the object store once. A task whose worker
dies is retried (`max_retries`). Without an address Ray starts a local instance; RAY_ADDRESS
(or `address`) joins a cluster (`ray start --head`, then `ray start --address=HEAD:6379` on the
others; each needs the course package and the data at the same path).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from helpers.errors import SettingError
from helpers.parallel.jobs import Backend, Job, set_math_threads

PLAIN = (str, int, float, bool, type(None), Path)  # passed as they are, not through the object store


def _task(fn, prepared: bool, threads, keys: tuple, *values):
    """A job in a Ray worker. Its arguments arrive spread out, so that Ray resolves each one
    (dependencies, shared objects) before the task starts."""
    set_math_threads(threads)
    n = len(values) - len(keys)
    return Job(fn, values[:n], dict(zip(keys, values[n:])), prepared)()


def iterate(jobs: list[Job], backend: Backend, progress: bool = False) -> Iterator[tuple]:
    """(index, result) of each job as it finishes; one that failed after its retries raises."""
    try:
        import ray
    except ImportError:
        raise SettingError("--executor ray needs Ray: `pip install .[ray]` (or `pip install ray`). The default "
                           "local executor needs nothing more.") from None
    address = backend.address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started:
        kw = dict(address=address) if address else dict(num_cpus=backend.num_cpus, include_dashboard=False)
        ray.init(log_to_driver=False, **kw)
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        share = (0.25 if backend.gpus is None else float(backend.gpus)) if gpus else 0
        remote = ray.remote(_task)
        stored, submitted = {}, {}

        def value(arg):
            if isinstance(arg, Job):
                return submit(arg)
            if isinstance(arg, PLAIN):
                return arg
            if id(arg) not in stored:  # the object store holds one copy, however many jobs pass it
                stored[id(arg)] = ray.put(arg)
            return stored[id(arg)]

        def submit(job: Job):
            if id(job) not in submitted:
                values = [value(a) for a in job.args] + [value(v) for v in job.kwargs.values()]
                opts = dict(num_cpus=backend.cpus, num_gpus=min(1.0, share * job.gpu_shares),
                            max_retries=backend.max_retries)
                submitted[id(job)] = remote.options(**opts).remote(job.fn, job.prepared, backend.threads,
                                                                   tuple(job.kwargs), *values)
            return submitted[id(job)]

        t0 = time.perf_counter()
        refs = [submit(job) for job in jobs]
        index, pending = {ref: i for i, ref in enumerate(refs)}, list(refs)
        while pending:
            [done], pending = ray.wait(pending, num_returns=1)
            yield index[done], ray.get(done)  # raises if the job failed after its retries
        if progress:
            print(f"ray: {len(refs)} jobs in {time.perf_counter() - t0:.0f} s on {ray.cluster_resources()}")
    finally:
        if started:
            ray.shutdown()

