"""Independent quality jobs side by side on a CPU.

Scoring a synthetic set is a handful of independent jobs: a train-on-synthetic classifier per
set, and per set its features, FID/KID/precision/recall and nearest training images. Run one
after another they leave a core idle half of the time (KID and the memorisation search are
numpy loops on one core). Here they run in threads, one math thread each (torch and numpy's
BLAS), as the GAN class models do (helpers.gan.pipeline.train_side_by_side, reused: Ctrl-C
or an error stops the others). The results are the same as one after another at one math
thread: every training seeds torch's global generator only under
helpers.train.loop.GLOBAL_RNG and draws everything else from its own torch.Generator, and
the numpy jobs draw from their own seeded numpy generators.
"""

from __future__ import annotations

from collections.abc import Callable

# One job more than there are cores, as for the GAN class models: the last jobs then share
# both cores to the end instead of one finishing alone on one core.
from helpers.gan.pipeline import CLASS_WORKERS as WORKERS


def workers(n_jobs: int, device: str = "cpu") -> int:
    """How many jobs to run at once: WORKERS on a CPU, one on a GPU (where they would queue on
    the one device anyway) or for a single job (which then keeps every math thread)."""
    if str(device) != "cpu" or n_jobs < 2:
        return 1
    return max(1, min(n_jobs, WORKERS))


def _call(fn):
    return fn()


def side_by_side(jobs: dict[object, Callable[[], object]], n_workers: int) -> dict:
    """{key: fn()} for jobs {key: fn}, `n_workers` at a time, in the order given (put the long
    ones first). With one worker: in this thread, with the math threads as they are."""
    from helpers.gan.pipeline import train_side_by_side

    if n_workers <= 1:
        return {k: fn() for k, fn in jobs.items()}
    from threadpoolctl import threadpool_limits

    # numpy's BLAS too gets one thread per job (train_side_by_side sets torch's)
    with threadpool_limits(1, user_api="blas"):
        return train_side_by_side(_call, {k: dict(fn=fn) for k, fn in jobs.items()}, n_workers)
