"""Train a GAN on the training records and export a class-balanced synthetic set.

Unconditional GANs (wgan, wgan-gp, dcgan) train one model per class, as the studies did,
under `RUNS/generators/<out_name>/<class>/`; the conditional one (cwgan) trains one model
under `.../all/`. Each run is resumable, so rerunning after an interruption continues, and
rerunning a finished run only re-exports (and only if the set is stale). The set goes to
`RUNS/synthetic/<out_name>/manifest.csv` with one checkpoint hash per image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import parallel
from helpers.config import plain_name
from helpers.data.preprocess import load_images
from helpers.data.records import validate_records
from helpers.errors import CheckpointError, DataError, SettingError
from helpers.gan.core import load_generator, make_run, make_trainer, sample_uint8
from helpers.gan.presets import KINDS, GanPreset, get_preset
from helpers.gan.steps import cwgan_step, dcgan_step, wgan_step
from helpers.parallel import Job
from helpers.synth import MANIFEST, balance_counts, sha256_file, synthetic_dir, write_synthetic_set
from helpers.train.checkpoint import step_config
from helpers.train.lock import run_lock
from helpers.train.loop import CHECKPOINT, History

# the notebooks' own training steps
STEPS = {"wgan": wgan_step, "wgan-gp": wgan_step, "dcgan": dcgan_step, "cwgan": cwgan_step}
ALL = "all"  # run folder of the conditional model
HALFWAY = ".halfway"  # never a run's name: plain_name refuses names that start with a dot


def _check(name: str) -> None:
    if name not in KINDS:
        raise SettingError(f"Unknown GAN {name!r}; choose one of {', '.join(KINDS)}.")


def prepare_run(kind: str, data, cfg, run_dir, steps: int | None = None, progress: bool = True,
                seed: int | None = None, preset: GanPreset | None = None, n_classes: int = 0, step=None,
                **changes) -> Callable[[], History]:
    """Set one model's run up (data on the device, networks built and seeded, the Trainer) and
    return the call that trains it: in the thread that starts trainings side by side, the models
    are built there and only the loops run in the workers (helpers.parallel). `data`: one class's
    images (uint8 (N, H, W) or [-1, 1]), or (images, integer labels) for cwgan. `step(run) ->
    dict` is the training step (default: the notebooks' own, `STEPS`)."""
    _check(kind)
    labels = None
    if kind == "cwgan":
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise TypeError("The conditional GAN needs data=(images, labels).")
        data, labels = data[0], np.asarray(data[1])
    preset = preset if isinstance(preset, GanPreset) else get_preset(kind, cfg.profile, dataset=cfg.dataset, **changes)
    if kind in ("wgan-gp", "cwgan") and preset.critic_norm == "batch":
        raise SettingError("The gradient penalty is per image: use critic_norm 'none' or 'layer', not 'batch'.")
    steps = int(steps or preset.steps)
    seed = cfg.seed if seed is None else int(seed)
    run = make_run(preset, data, seed, cfg.device, labels=labels, n_classes=n_classes)
    step = step or STEPS[kind]
    trainer = make_trainer(run, run_dir, steps, seed, f"{kind} {Path(run_dir).name}", progress,
                           extra_config=step_config(step, STEPS[kind]), halfway_store=halfway_store(cfg, run_dir))
    trainer.start_from_halfway()  # now, so that a run with nothing left to train is counted so
    return lambda: trainer.run(lambda i: step(run))


def halfway_store(cfg, run_dir) -> Path | None:
    """Where the course's GAN runs keep their halfway states (helpers.train.halfway): under
    RUNS/generators/, for runs there (a timing's or a test's folder elsewhere keeps none)."""
    root = Path(cfg.runs_dir).resolve() / "generators"
    return root / HALFWAY if root in Path(run_dir).resolve().parents else None


def train_run(kind: str, data, cfg, run_dir, **kw) -> History:
    """Train (or resume) one model of generator `kind` in `run_dir` (see `prepare_run`)."""
    return prepare_run(kind, data, cfg, run_dir, **kw)()


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


def training_jobs(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None,
                  steps: int | None = None, progress: bool = True, classes: list[str] | None = None, step=None,
                  **changes) -> dict[str, Job]:
    """The models of generator `name` as prepared jobs (helpers.parallel): {class or 'all': Job}.
    Each class's model gets its own seed, so classes do not share noise streams."""
    _check(name)
    images = load_images(train_records, cfg.size, cfg.cache_dir, progress=progress)
    dirs = run_dirs(name, cfg, train_records, out_name, classes)
    kw = dict(steps=steps, progress=progress, step=step, **changes)
    if name == "cwgan":
        missing = [c for c in cfg.classes if c not in set(train_records["class_name"])]
        if missing:
            raise DataError(f"The conditional GAN needs every class in its training records; {missing} missing.")
        data = (images, train_records["label"].to_numpy())
        return {ALL: Job(prepare_run, (name, data, cfg, dirs[ALL]), dict(kw, n_classes=len(cfg.classes)),
                         prepared=True)}
    labels = {c: i for i, c in enumerate(cfg.classes)}
    return {cls: Job(prepare_run, (name, images[(train_records["class_name"] == cls).to_numpy()], cfg, folder),
                     dict(kw, seed=cfg.seed * 1000 + labels[cls]), prepared=True)
            for cls, folder in dirs.items()}


def train(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, steps: int | None = None,
          progress: bool = True, classes: list[str] | None = None, step=None, **changes) -> dict[str, History]:
    """Train generator `name` on `train_records` only; returns {class or 'all': History}.
    `changes` override preset settings (e.g. gp_weight=1.0); use a distinct `out_name` for them.
    `step(run) -> dict` is the training step (default: the notebooks' own, helpers.gan.steps).
    On a CPU the class models train side by side (as in `train_many`)."""
    runs = {out_name: dict(changes, classes=classes, step=step)}
    return train_many(name, cfg, train_records, runs, steps, progress).get(out_name, {})


def train_many(name: str, cfg, train_records: pd.DataFrame, runs: dict, steps: int | None = None,
               progress: bool = True) -> dict[str, dict[str, History]]:
    """Several runs of generator `name` on the same records, all their models side by side on a
    CPU (as `train`): runs = {out_name: dict(step=..., other preset changes)}. Returns
    {out_name: {class or 'all': History}}. For comparisons such as two training steps at the
    same budget; each run keeps its own folder, so each resumes on its own."""
    jobs = {(out, key): job for out, kw in runs.items()
            for key, job in training_jobs(name, cfg, train_records, out, steps, progress, **kw).items()}
    folders = sorted({f for out, kw in runs.items()
                      for f in run_dirs(name, cfg, train_records, out, kw.get("classes")).values()})
    with contextlib.ExitStack() as held:
        # every model's folder claimed first, in one order: two processes started together do not
        # each take one class and refuse each other the rest; the second is refused at once
        for folder in folders:
            held.enter_context(run_lock(folder, name=".queue.lock"))
        # prepared here, in this thread (networks built and seeded, halfway states copied in:
        # helpers.train.halfway), then counted: on a CPU side by side in threads of one math thread
        # (a small GAN gains little from a second one, while a second model beside the first uses
        # the other core); a lone model keeps them all
        calls = {k: parallel.task(job.fn(*job.args, **job.kwargs)) for k, job in jobs.items()}
        todo = _unfinished(name, cfg, train_records, runs, steps)
        done = parallel.run(calls, parallel.side_by_side(todo, cfg.device))
    out: dict = {}
    for (run, key), history in done.items():
        out.setdefault(run, {})[key] = history
    return out


def _unfinished(name: str, cfg, train_records: pd.DataFrame, runs: dict, steps: int | None) -> int:
    """How many models of `runs` ({out_name: changes}) have still to train (their history says)."""
    n = 0
    for out, changes in runs.items():
        kw = {k: v for k, v in changes.items() if k not in ("step", "classes")}
        goal = steps or get_preset(name, cfg.profile, dataset=cfg.dataset, **kw).steps
        n += sum(not _trained(folder, goal)
                 for folder in run_dirs(name, cfg, train_records, out, changes.get("classes")).values())
    return n


def _trained(folder: Path, goal: int) -> bool:
    history = folder / "history.csv"
    try:
        return history.exists() and int(pd.read_csv(history, usecols=["step"])["step"].max()) >= goal
    except (ValueError, KeyError):
        return False


def current_set(manifest: Path, counts: dict, hashes: dict, size: int, seed: int) -> bool:
    """Whether an existing set was made by these checkpoints ({class: hash}), with these counts,
    image size and seed, and all its files are there."""
    if not manifest.exists():
        return False
    df = pd.read_csv(manifest)
    if dict(df["class_name"].value_counts()) != {c: n for c, n in counts.items() if n}:
        return False
    if len(df) and (set(df["size"]) != {size} or set(df["seed"]) != {seed}):
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
    if not force and current_set(manifest, counts, hashes, cfg.size, cfg.seed):
        return manifest
    return write_synthetic_set(out_dir, out_name or name, _sampler(name, cfg, dirs), counts, classes=cfg.classes,
                               checkpoint=ck, seed=cfg.seed, progress=progress,
                               trained_on=list(train_records["path"]))


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
    classes = classes or list(cfg.classes)
    dirs = run_dirs(name, cfg, None, out_name, classes)
    draw = _sampler(name, cfg, dirs)
    return {cls: draw(cls, n, seed + cfg.classes.index(cls)) for cls in classes
            if (dirs[ALL if name == "cwgan" else cls] / CHECKPOINT).exists()}


def _sampler(name: str, cfg, dirs: dict):
    """draw(class, n, seed) -> n uint8 images from the trained model of that class (each model
    loaded once, when first drawn from)."""
    models = {}

    def draw(cls: str, n: int, seed: int):
        key = ALL if name == "cwgan" else cls
        if key not in models:
            models[key] = load_generator(dirs[key], cfg.device)
        label = cfg.classes.index(cls) if name == "cwgan" else None
        return sample_uint8(models[key], n, seed, label, cfg.device)

    return draw
