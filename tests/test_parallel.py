"""helpers.parallel: one interface, four backends, the same results in the same order."""

import operator
import os
import threading
import time

import pytest

from helpers import parallel
from helpers.errors import Interrupted, SettingError
from helpers.parallel import Backend, Job, processes, task


def test_ordered_map_keeps_order_in_processes_and_in_one(monkeypatch):
    items = list(range(-20, 20))
    want = [operator.neg(i) for i in items]
    assert list(parallel.ordered_map(operator.neg, items)) == want  # fewer than PARALLEL_FROM: this process
    monkeypatch.setattr(processes, "PARALLEL_FROM", 1)
    assert list(parallel.ordered_map(operator.neg, items, workers=2, chunksize=3)) == want
    assert list(parallel.ordered_map(operator.neg, [], workers=2)) == []


BACKENDS = [parallel.INLINE, Backend("threads", workers=3), Backend("processes", workers=2, chunksize=2)]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.kind)
def test_every_backend_returns_the_results_in_job_order(backend):
    jobs = [task(operator.mul, i, 3) for i in range(7)]
    assert parallel.run(jobs, backend) == [3 * i for i in range(7)]
    assert sorted(parallel.results(jobs, backend, ordered=False)) == [(i, 3 * i) for i in range(7)]
    assert parallel.run({k: task(str.upper, k) for k in "abc"}, backend) == {"a": "A", "b": "B", "c": "C"}
    assert parallel.run([], backend) == []


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.kind)
def test_a_dependency_runs_once_and_its_result_is_passed_on(backend, tmp_path):
    dep = task(_count_call, str(tmp_path / "calls.txt"), 5)
    assert parallel.run([task(operator.add, dep, i) for i in range(4)], backend) == [5, 6, 7, 8]
    assert (tmp_path / "calls.txt").read_text() == "x"  # once, here, in the calling process


def _count_call(path: str, value: int) -> int:
    with open(path, "a") as f:
        f.write("x")
    return value


def test_prepared_jobs_are_prepared_in_the_calling_thread_before_any_worker_starts():
    """How trainings side by side avoid a process-wide lock: each model is built and seeded
    here, one after another; only its loop runs in a worker thread."""
    log = []

    def prepare(k):
        log.append(("prepare", k, threading.current_thread() is threading.main_thread()))
        return lambda: log.append(("run", k, threading.current_thread() is threading.main_thread())) or k

    out = parallel.run([Job(prepare, (k,), prepared=True) for k in "abc"], Backend("threads", workers=2))
    assert out == ["a", "b", "c"]
    assert log[:3] == [("prepare", k, True) for k in "abc"]  # all prepared before the first run
    assert sorted(e[1] for e in log[3:]) == ["a", "b", "c"] and not any(e[2] for e in log[3:])
    log.clear()  # inline (one job, or a GPU): each prepared right before it runs
    parallel.run([Job(prepare, (k,), prepared=True) for k in "ab"], parallel.INLINE)
    assert [e[:2] for e in log] == [("prepare", "a"), ("run", "a"), ("prepare", "b"), ("run", "b")]


def test_an_error_in_one_thread_stops_the_others_and_is_raised():
    seen = {}

    def job(key, fail):
        if fail:
            raise ValueError(f"{key} failed")
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 20:  # a training checks STOP before every step
            if parallel.STOP.is_set():
                seen[key] = True
                raise Interrupted(f"{key}: interrupted")
            time.sleep(0.01)
        return key

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="b failed"):
        parallel.run([task(job, "a", False), task(job, "b", True)], Backend("threads", workers=2))
    assert time.perf_counter() - t0 < 10 and seen == {"a": True}
    assert not parallel.STOP.is_set()  # cleared for the next run


def test_a_job_error_in_a_process_is_raised_and_the_pool_is_gone():
    with pytest.raises(ZeroDivisionError):
        parallel.run([task(operator.truediv, 1, 0), task(operator.neg, 1)], Backend("processes", workers=2))


def test_the_kept_process_pool_serves_the_next_call():
    backend = Backend("processes", workers=1, threads=1, keep=True)
    try:
        first = parallel.run([task(os.getpid)], backend)
        assert parallel.run([task(os.getpid)], backend) == first  # the same worker, not a new one
    finally:
        processes.forget()
    assert not processes._KEPT


def test_side_by_side_is_threads_on_a_cpu_only_and_an_unknown_backend_is_refused(monkeypatch):
    from helpers.parallel import jobs

    monkeypatch.setattr(jobs, "SIDE_BY_SIDE", 3)
    assert parallel.side_by_side(5) == Backend("threads", workers=3)
    assert parallel.side_by_side(2).workers == 2
    assert parallel.side_by_side(1) == parallel.INLINE  # a lone job keeps every math thread
    assert parallel.side_by_side(5, "cuda") == parallel.INLINE
    with pytest.raises(SettingError, match="Unknown backend"):
        parallel.run([task(abs, 1)], Backend("cluster"))


def test_ray_is_optional_and_said_in_one_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(SettingError, match=r"pip install \.\[ray\]"):
        parallel.run([task(abs, 1)], Backend("ray"))
    assert parallel.run([], Backend("ray")) == []  # nothing to run: Ray is not even imported


def _log_after(path: str, name: str, pause: float = 0.0) -> str:
    """Append `name` to the log at `path` (after `pause` seconds); the log as it was before."""
    before = open(path).read() if os.path.exists(path) else ""
    time.sleep(pause)
    with open(path, "a") as f:
        f.write(name)
    return before


@pytest.mark.parametrize("backend", [parallel.INLINE, Backend("processes", workers=2)], ids=lambda b: b.kind)
def test_a_job_waits_for_the_jobs_it_comes_after(backend, tmp_path):
    log = str(tmp_path / "log.txt")
    # job 0 waits for the slow job 2; job 1 is free, so on two workers it runs beside job 2
    jobs = [task(_log_after, log, "a"), task(_log_after, log, "b"), task(_log_after, log, "c", 1.0)]
    seen = parallel.run(jobs, backend, after={0: [2]})
    assert "c" in seen[0]  # job 0 started after job 2 had finished
    assert sorted(open(log).read()) == ["a", "b", "c"]  # each once
    if backend.kind == "inline":
        assert open(log).read() == "bca"  # the first ready job each time
    with pytest.raises(SettingError, match="never"):
        parallel.run(jobs, backend, after={0: [1], 1: [0]})  # a cycle: refused, not a hang
    with pytest.raises(SettingError, match="inline or in processes"):
        parallel.run(jobs, Backend("threads", workers=2), after={0: [2]})
