"""Train a GAN on the training records and export a class-balanced synthetic set.

Unconditional GANs (wgan, wgan-gp, dcgan) train one model per class, as the studies did,
under `RUNS/generators/<out_name>/<class>/`; the conditional one (cwgan) trains one model
under `.../all/`. Each run is resumable, so rerunning after an interruption continues, and
rerunning a finished run only re-exports (and only if the set is stale). The set goes to
`RUNS/synthetic/<out_name>/manifest.csv` with one checkpoint hash per image.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from helpers.config import plain_name
from helpers.data.preprocess import load_images
from helpers.data.records import validate_records
from helpers.errors import CheckpointError, DataError, SettingError
from helpers.gan.cwgan import train_cwgan
from helpers.gan.dcgan import train_dcgan
from helpers.gan.presets import KINDS, get_preset
from helpers.gan.sampling import load_generator, sample_uint8  # noqa: F401  (re-exported for notebooks)
from helpers.gan.wgan import train_wgan, train_wgan_gp
from helpers.synth import MANIFEST, balance_counts, sha256_file, synthetic_dir, write_synthetic_set
from helpers.train.loop import CHECKPOINT, History

TRAINERS = {"wgan": train_wgan, "wgan-gp": train_wgan_gp, "dcgan": train_dcgan}
ALL = "all"  # run folder of the conditional model


def _check(name: str) -> None:
    if name not in KINDS:
        raise SettingError(f"Unknown GAN {name!r}; choose one of {', '.join(KINDS)}.")


def _classes(cfg, train_records: pd.DataFrame) -> list[str]:
    if train_records is None or len(train_records) == 0:
        raise DataError("No training records: pass the training part of the prepared split.")
    validate_records(train_records, "the training records", classes=cfg.classes)
    present = set(train_records["class_name"])
    return [c for c in cfg.classes if c in present]


def export_counts(name: str, cfg, train_records: pd.DataFrame, **changes) -> dict:
    """Synthetic images per class: the training counts balanced to the largest class plus the
    preset's `balance_extra` (the WGAN study: 437 + 50 = 487; the DCGAN study: 437)."""
    preset = get_preset(name, cfg.profile, dataset=cfg.dataset, **changes)
    counts = train_records["class_name"].value_counts().to_dict()
    counts = {c: counts[c] for c in _classes(cfg, train_records)}
    return balance_counts(counts, extra=preset.balance_extra)


def run_dirs(name: str, cfg, train_records: pd.DataFrame | None = None, out_name: str | None = None,
             classes: list[str] | None = None) -> dict[str, Path]:
    """Where each model of generator `name` lives: {class: folder}, or {'all': folder} for cwgan."""
    _check(name)
    root = cfg.runs_dir / "generators" / plain_name(out_name or name, "run name")
    if name == "cwgan":
        return {ALL: root / ALL}
    classes = classes or (_classes(cfg, train_records) if train_records is not None else cfg.classes)
    return {c: root / c for c in classes}


def train(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, steps: int | None = None,
          progress: bool = True, classes: list[str] | None = None, step=None, **changes) -> dict[str, History]:
    """Train generator `name` on `train_records` only; returns {class or 'all': History}.
    `changes` override preset settings (e.g. gp_weight=1.0); use a distinct `out_name` for them.
    `step(run) -> dict` is the training step (default: the notebooks' own, helpers.gan.steps)."""
    _check(name)
    images = load_images(train_records, cfg.size, cfg.cache_dir, progress=progress)
    dirs = run_dirs(name, cfg, train_records, out_name, classes)
    if name == "cwgan":
        n_classes = len(cfg.classes)
        missing = [c for c in cfg.classes if c not in set(train_records["class_name"])]
        if missing:
            raise DataError(f"The conditional GAN needs every class in its training records; {missing} missing.")
        return {ALL: train_cwgan((images, train_records["label"].to_numpy()), cfg, dirs[ALL], steps=steps,
                                 progress=progress, n_classes=n_classes, step=step, **changes)}
    labels = {c: i for i, c in enumerate(cfg.classes)}
    jobs = {}
    for cls, folder in dirs.items():
        mask = (train_records["class_name"] == cls).to_numpy()
        # each class's model gets its own seed, so classes do not share noise streams
        jobs[cls] = dict(data=images[mask], cfg=cfg, run_dir=folder, steps=steps, progress=progress,
                         seed=cfg.seed * 1000 + labels[cls], step=step, **changes)
    preset = get_preset(name, cfg.profile, dataset=cfg.dataset, **changes)
    return train_side_by_side(TRAINERS[name], jobs, class_workers(cfg, len(jobs), preset))


def train_many(name: str, cfg, train_records: pd.DataFrame, runs: dict, steps: int | None = None,
               progress: bool = True) -> dict[str, dict[str, History]]:
    """Several runs of generator `name` on the same records, side by side on a CPU (as
    `train_side_by_side`): runs = {out_name: dict(step=..., other preset changes)}. Returns
    {out_name: {class or 'all': History}}. For comparisons such as two training steps at the
    same budget; each run keeps its own folder, so each resumes on its own."""
    jobs = {out: dict(name=name, cfg=cfg, train_records=train_records, out_name=out, steps=steps, progress=progress,
                      **kw) for out, kw in runs.items()}
    todo = [out for out, kw in runs.items() if not _finished(name, cfg, train_records, out, steps, kw)]
    n_models = sum(len(run_dirs(name, cfg, train_records, out)) for out in todo)
    preset = get_preset(name, cfg.profile, dataset=cfg.dataset)
    # one thread per run only when two or more runs still train, each a single model; a finished
    # run is only read back (a lone run keeps every math thread)
    workers = class_workers(cfg, len(todo), preset) if n_models == len(todo) else 1
    return train_side_by_side(train, jobs, workers)


def spare_runs(cfg, later: dict, n_models: int = 1) -> dict:
    """The runs of `later` (as train_many's `runs`) that fit beside `n_models` models training
    now without slowing them: on a CPU a lone small GAN leaves the other cores idle (a second
    math thread does not speed it up), so a run a later cell needs can train there at no cost.
    None on a GPU, where runs go one after another anyway."""
    if str(cfg.device) != "cpu":
        return {}
    free = max(0, _CORES - n_models)  # one model per core
    return dict(list(later.items())[:free])


def _finished(name: str, cfg, train_records: pd.DataFrame, out: str, steps: int | None, changes: dict) -> bool:
    """Whether every model of run `out` has already trained its steps (its history says so)."""
    kw = {k: v for k, v in changes.items() if k != "step"}
    goal = steps or get_preset(name, cfg.profile, dataset=cfg.dataset, **kw).steps
    for folder in run_dirs(name, cfg, train_records, out).values():
        history = folder / "history.csv"
        try:
            if not history.exists() or int(pd.read_csv(history, usecols=["step"])["step"].max()) < goal:
                return False
        except (ValueError, KeyError):
            return False
    return True


# Class models trained at once on a CPU. A small GAN gains little from a second math thread
# (the quick WGAN-GP step: 0.72 s with one, 0.78 s with two), while a second model beside the
# first uses the other core; torch releases the GIL inside its operations. One model more than
# there are cores: three class models on two cores then share them to the end (the quick WGAN's
# three models: 61 s) instead of the third training alone on one core (79 s); each thread does
# one model's work, so the results are the same either way.
_CORES = os.cpu_count() or 1
CLASS_WORKERS = _CORES + 1 if _CORES >= 2 else 1


def class_workers(cfg, n_models: int, preset) -> int:
    """How many class models to train at once: CLASS_WORKERS on a CPU; one on a GPU, or where the
    models use dropout (drawn from torch's shared generator, which threads would interleave)."""
    if str(cfg.device) != "cpu" or n_models < 2 or getattr(preset, "dropout", 0):
        return 1
    return max(1, min(n_models, CLASS_WORKERS))


def train_side_by_side(train_fn, jobs: dict, workers: int) -> dict:
    """{key: train_fn(**kwargs)} for jobs {key: kwargs}, `workers` at a time in threads with one
    math thread each (the same result as one after another, up to float rounding). Ctrl-C, or
    an error in one model, stops the others at their next step, each resumable from its
    checkpoint; the first error is raised (an interruption as the Trainer words it)."""
    if workers <= 1:
        return {k: train_fn(**kw) for k, kw in jobs.items()}
    import signal
    import threading
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    import torch

    from helpers.errors import Interrupted
    from helpers.train.loop import STOP

    # While the models train, Ctrl-C only raises the stop flag: each Trainer then stops at its
    # next step and says where (a KeyboardInterrupt inside concurrent.futures' own locking could
    # leave a lock held and hang the process).
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        old_handler = signal.signal(signal.SIGINT, lambda signum, frame: STOP.set())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="class-model")
    futures = {k: pool.submit(train_fn, **kw) for k, kw in jobs.items()}
    try:
        pending = list(futures.values())
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed or STOP.is_set():
                STOP.set()  # the others stop at their next step
                for f in futures.values():
                    f.cancel()
                wait(list(futures.values()))
                errors = [f.exception() for f in futures.values() if not f.cancelled() and f.exception()]
                own = [e for e in errors if not isinstance(e, (Interrupted, KeyboardInterrupt))]
                told = [e for e in errors if isinstance(e, Interrupted)]
                # a model's own error first; else the interruption as the Trainer words it
                raise (own or told or [Interrupted("interrupted; run the same command to resume.")])[0]
        return {k: f.result() for k, f in futures.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        STOP.clear()
        torch.set_num_threads(threads)
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)


def _current(manifest: Path, counts: dict, hashes: dict, cfg) -> bool:
    """Whether an existing set was made by these checkpoints, with these counts and size."""
    if not manifest.exists():
        return False
    df = pd.read_csv(manifest)
    if dict(df["class_name"].value_counts()) != {c: n for c, n in counts.items() if n}:
        return False
    if len(df) and (set(df["size"]) != {cfg.size} or set(df["seed"]) != {cfg.seed}):
        return False
    for cls, part in df.groupby("class_name"):
        if set(part["checkpoint"]) != {hashes[cls]}:
            return False
    return all((manifest.parent / p).exists() for p in df["path"])


def export(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, progress: bool = True,
           counts: dict | None = None, force: bool = False, **changes) -> Path:
    """Write the balanced synthetic set of trained generator `name`; returns the manifest path.
    Skips the work when the set on disk was already made by the same checkpoints."""
    counts = counts if counts is not None else export_counts(name, cfg, train_records, **changes)
    dirs = run_dirs(name, cfg, train_records, out_name, [c for c, n in counts.items() if n] or None)
    ck = {c: dirs[ALL if name == "cwgan" else c] / CHECKPOINT for c, n in counts.items() if n}
    for c, p in ck.items():
        if not p.exists():
            raise CheckpointError(f"No trained {name} for class {c!r} at {p}; train it first.")
    hashes = {c: sha256_file(p) for c, p in ck.items()}
    out_dir = synthetic_dir(cfg.runs_dir, out_name or name)
    manifest = out_dir / MANIFEST
    if not force and _current(manifest, counts, hashes, cfg):
        return manifest
    models = {}
    labels = {c: i for i, c in enumerate(cfg.classes)}

    def sample_fn(cls: str, n: int, seed: int):
        key = ALL if name == "cwgan" else cls
        if key not in models:
            models[key] = load_generator(dirs[key], cfg.device)
        return sample_uint8(models[key], n, seed, labels[cls] if name == "cwgan" else None, cfg.device)

    return write_synthetic_set(out_dir, out_name or name, sample_fn, counts, classes=cfg.classes, checkpoint=ck,
                               seed=cfg.seed, progress=progress, trained_on=list(train_records["path"]))


def run(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, steps: int | None = None,
        progress: bool = True, step=None, **changes) -> Path:
    """What `helpers.generators` calls: train (or resume, or skip if finished) and export.
    Unconditional GANs only train the classes that need synthetic images."""
    _check(name)
    counts = export_counts(name, cfg, train_records, **changes)
    needed = [c for c, n in counts.items() if n]
    if name != "cwgan" and not needed:
        raise DataError("No class needs synthetic images with these counts.")
    train(name, cfg, train_records, out_name, steps, progress, classes=None if name == "cwgan" else needed,
          step=step, **changes)
    return export(name, cfg, train_records, out_name, progress, counts=counts, **changes)


def samples(name: str, cfg, n: int = 5, seed: int = 0, out_name: str | None = None,
            classes: list[str] | None = None) -> dict:
    """{class: uint8 (n, H, W)} drawn from trained generator `name` (fixed seed per class)."""
    labels = {c: i for i, c in enumerate(cfg.classes)}
    classes = classes or list(labels)
    dirs = run_dirs(name, cfg, None, out_name, classes)
    out = {}
    for cls in classes:
        folder = dirs[ALL if name == "cwgan" else cls]
        if (folder / CHECKPOINT).exists():
            G = load_generator(folder, cfg.device)
            out[cls] = sample_uint8(G, n, seed + labels[cls], labels[cls] if name == "cwgan" else None, cfg.device)
    return out
