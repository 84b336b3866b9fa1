"""Who runs the grid's cells: this process (`local`, the default) or a Ray cluster (`ray`).

With Ray (an optional dependency: `pip install .[ray]`), each fold's generator training is a
task, and each cell a task that depends on its fold's generator (Ray passes the synthetic
set's manifest path along once it exists). Tasks declare what they need: `cpus_per_cell` CPUs
and, on a CUDA machine, a *fraction* of a GPU (`gpus_per_cell`, default 0.25: four small
classifiers share one GPU). Every worker appends its row to the same RUNS/classify/results.csv
under a file lock (a shared file system is assumed on a multi-machine cluster), so a rerun
skips finished cells exactly as with the local executor; a task whose worker dies is retried
by Ray (`max_retries`), and a cell restarts from its last finished epoch.

Without an address Ray starts a local instance on the spot; with `RAY_ADDRESS` (or
`address=`) it joins an existing cluster (`ray start --head` on one machine, `ray start
--address=HEAD:6379` on the others; each worker needs the course package and the data at the
same path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from helpers.classify.grid_run import run_dir, train_run
from helpers.classify.settings import generator_records, run_id
from helpers.classify.store import append_result, finished
from helpers.classify.synthetic import fold_synthetic, per_class_set, run_manifest
from helpers.errors import SettingError

EXECUTORS = ("local", "ray")
# For the executor's own tests: a worker running this cell kills itself once, after training
# the cell and before recording it (the marker file says it already did).
FAULT_ENV = "COURSE_RAY_FAULT_CELL"


def _ray():
    try:
        import ray
    except ImportError:
        raise SettingError("--executor ray needs Ray: `pip install .[ray]` (or `pip install ray`). The default "
                           "local executor needs nothing more.") from None
    return ray


def _cell_task(cfg, records, cell, preset, pretrained, out_dir, manifest, threads):
    """Run one cell in a worker and append its row (what the local executor does in-process)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    arch, setting, fold, seed = cell
    cid = run_id(arch, setting.name, fold, seed)
    if cid in finished(out_dir):
        return cid  # finished by an earlier attempt
    row = train_run(cfg, arch, setting, fold, seed, records, preset, run_dir(out_dir, cid), manifest, pretrained)
    fault = os.environ.get(FAULT_ENV, "")
    if fault and fault.split("::")[0] == cid and not Path(fault.split("::")[1]).exists():
        Path(fault.split("::")[1]).write_text("killed once")
        os._exit(137)  # the worker dies mid-cell: its row was never recorded
    append_result(Path(out_dir), cid, row)
    return cid


def _generator_task(cfg, generator, fold, train_records, steps, threads, per_class=0):
    """The fold's synthetic set, and (for a sweep) its n-per-class set: (manifest, per-class manifest)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    m = fold_synthetic(cfg, generator, fold, train_records, progress=False, steps=steps)
    return str(m), (str(per_class_set(cfg, generator, fold, m, per_class, progress=False)) if per_class else None)


def _pick(pair, per_class: bool):
    return pair[1] if per_class else pair[0]


def run_ray(cfg, records: pd.DataFrame, todo: list[tuple], preset: dict, pretrained, out_dir: Path,
            address: str | None = None, cpus_per_cell: int = 1, gpus_per_cell: float | None = None,
            num_cpus: int | None = None, max_retries: int = 2, progress: bool = True) -> None:
    """Run `todo` cells as Ray tasks (see the module's note)."""
    from tqdm.auto import tqdm

    ray = _ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started:
        kw = dict(address=address) if address else dict(num_cpus=num_cpus, include_dashboard=False)
        ray.init(log_to_driver=False, **kw)
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        frac = (0.25 if gpus_per_cell is None else float(gpus_per_cell)) if gpus else 0
        opts = dict(num_cpus=cpus_per_cell, num_gpus=frac, max_retries=max_retries)
        gen_opts = dict(num_cpus=cpus_per_cell, num_gpus=min(1.0, 2 * frac) if frac else 0, max_retries=max_retries)
        cell_task = ray.remote(_cell_task)
        gen_task = ray.remote(_generator_task)
        pick = ray.remote(_pick)
        records_ref = ray.put(records)
        gens: dict = {}
        refs = []
        for cell in todo:
            arch, setting, fold, seed = cell
            manifest = None
            if setting.generator:
                key = (setting.generator, fold)
                if key not in gens:  # one generator task per (generator, fold), shared by its cells
                    need = max((c[1].per_class or 0) for c in todo if c[1].generator == setting.generator)
                    gens[key] = gen_task.options(**gen_opts).remote(
                        cfg, setting.generator, fold, generator_records(records, fold), preset.get("gen_steps"),
                        cpus_per_cell, need)
                manifest = pick.options(num_cpus=0).remote(gens[key], bool(setting.per_class))
            refs.append(cell_task.options(**opts).remote(cfg, records_ref, cell, preset, pretrained, str(out_dir),
                                                         manifest, cpus_per_cell))
        t0 = time.perf_counter()
        with tqdm(total=len(refs), desc=f"classifier grid (ray, {len(refs)} cells)", unit="run",
                  disable=not progress) as bar:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)  # raises if a cell failed after its retries
                bar.update(len(done))
        if progress:
            print(f"ray: {len(refs)} cells in {time.perf_counter() - t0:.0f} s on {ray.cluster_resources()}")
    finally:
        if started:
            ray.shutdown()


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def run_processes(cfg, records: pd.DataFrame, todo: list[tuple], preset: dict, pretrained, out_dir: Path,
                  workers: int, manifests: dict, progress: bool = True) -> None:
    """Run `todo` cells in `workers` processes of one math thread each. Small CPU models scale
    badly over threads (a second thread bought the quick classifier little), but two cells
    side by side use both cores. Synthetic sets are made first, here (`manifests`, as the
    local executor does), so workers only train; each appends its row under the file lock,
    and a rerun skips finished cells, as in-process."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    jobs = [(cell, run_manifest(cfg, records, todo, cell[1], cell[2], preset, manifests, progress)) for cell in todo]
    # spawn, not fork: a forked child of a process whose OpenMP pool already ran can hang
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(1,)) as pool, \
            tqdm(total=len(jobs), desc=f"classifier grid ({workers} processes)", unit="run",
                 disable=not progress) as bar:
        futures = {pool.submit(_cell_task, cfg, records, cell, preset, pretrained, str(out_dir), manifest, 1): cell
                   for cell, manifest in jobs}
        for f in as_completed(futures):
            bar.set_postfix_str(f.result())  # re-raises a cell's error here
            bar.update(1)
