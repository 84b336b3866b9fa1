"""Jobs as Ray tasks: how work scales past one machine. Ray is optional (`pip install .[ray]`)
and imported only when this backend runs.

Each task declares `cpus` CPUs and, where the cluster has GPUs, a fraction of one (`gpus`,
default GPU_SHARE: four small classifiers share a GPU; times a job's `gpu_shares`). A worker
runs task after task (Ray would start a fresh worker for each task of a function declared with
GPUs: importing torch and fastai and creating a CUDA context again each time), and a task picks
its device where it runs: a settings object among its arguments (a dataclass with a `device`
field, e.g. the course's Config, resolved on the driver) gets "cuda" when Ray gave the task a
GPU share and "cpu" otherwise, so a CPU-only head node does not make GPU workers train on the CPU. A dependency is
a task of its own, submitted once, its result handed to every task that needs it; an argument
shared by several jobs (a records table) is put in the object store once. A task whose worker
dies is retried (`max_retries`). Without an address Ray starts a local instance; RAY_ADDRESS
(or `address`) joins a cluster (`ray start --head`, then `ray start --address=HEAD:6379` on the
others; each needs the course package and the data at the same path). ray.init retries an
address that never answers for ever: a cluster that does not accept a connection within
RAY_WAIT seconds is refused with one line.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from helpers.errors import SettingError
from helpers.parallel.jobs import GPU_SHARE, Backend, Job, set_math_threads

PLAIN = (str, int, float, bool, type(None), Path)  # passed as they are, not through the object store
RAY_WAIT = 10  # seconds a named cluster has to accept a connection (one just starting gets that long)


def _check_reachable(address: str, source: str) -> None:
    """Refuse a host:port (or ray://host:port) address that accepts no connection within RAY_WAIT s;
    others ("auto", "local") Ray resolves itself."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not (sep and host and port.isdigit()):
        return
    deadline = time.monotonic() + RAY_WAIT
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=max(1.0, deadline - time.monotonic())).close()
            return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise SettingError(f"No Ray cluster answers at {address} ({source}) after {RAY_WAIT} s: {e.strerror or e}. "
                                   "Start it (`ray start --head`), fix the address, or unset it for a local Ray.") from None
            time.sleep(1)


def worker_device() -> str:
    """The device of this Ray task: "cuda" when Ray gave it a GPU share (and set
    CUDA_VISIBLE_DEVICES to it), else "cpu"."""
    import ray

    return "cuda" if ray.get_gpu_ids() else "cpu"


def on_device(value, device: str):
    """`value` with its `device` field set to `device` when it is a dataclass instance that has
    one (a run's settings); anything else as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and isinstance(getattr(value, "device", None), str):
        fields = {f.name for f in dataclasses.fields(value)}
        if "device" in fields and value.device.split(":")[0] != device:
            return dataclasses.replace(value, device=device)
    return value


def _task(fn, prepared: bool, threads, keys: tuple, *values):
    """A job in a Ray worker. Its arguments arrive spread out, so that Ray resolves each one
    (dependencies, shared objects) before the task starts; the run's device is this worker's."""
    set_math_threads(threads)
    device = worker_device()
    values = [on_device(v, device) for v in values]
    n = len(values) - len(keys)
    return Job(fn, tuple(values[:n]), dict(zip(keys, values[n:])), prepared)()


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
        source = "--ray-address" if backend.address else "RAY_ADDRESS"
        if address:
            _check_reachable(address, source)
        kw = dict(address=address) if address else dict(num_cpus=backend.num_cpus, include_dashboard=False)
        try:
            ray.init(log_to_driver=False, **kw)
        except ConnectionError as e:  # "auto" with no cluster running, a refused handshake
            if not address:
                raise
            why = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
            raise SettingError(f"Cannot join the Ray cluster at {address} ({source}): {why}. Start it "
                               "(`ray start --head`), fix the address, or unset it for a local Ray.") from None
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        share = (GPU_SHARE if backend.gpus is None else float(backend.gpus)) if gpus else 0
        remote = ray.remote(max_calls=0)(_task)  # 0: a worker runs any number of tasks, GPU or not
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

