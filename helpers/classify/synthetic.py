"""The synthetic sets the grid's runs train with, made once per (generator, fold).

Generators for a fold are trained on that fold's training part only
(`helpers.generators.train_and_export(..., out_name=f"{G}-fold{k}")`), and
`helpers.classify.protocol.check_evaluation` proves it before anything is scored. For the
split (SPLIT) the set the generator notebooks exported from the split's train part
(`RUNS/synthetic/<G>/`) is reused, which keeps the smoke and quick profiles to minutes. The
DDPM study's sweep draws n images of every class from the same generator (`per_class_set`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd

from helpers.classify.settings import SPLIT, generator_records
from helpers.errors import DataError
from helpers.generators import GENERATORS, train_and_export
from helpers.parallel import Job
from helpers.quality.sampling import scoring_set
from helpers.synth import MANIFEST, per_class_dir, read_trained_on, synthetic_dir

GENERATOR_PREFERENCE = ("cwgan", "wgan", "wgan-gp", "dcgan", "ddpm", "flow")


def available_generators(preference=GENERATOR_PREFERENCE) -> list[str]:
    """Registered generators whose code is importable, in order of preference."""
    out = []
    for name in preference:
        if name in GENERATORS:
            try:
                importlib.import_module(GENERATORS[name].split(":")[0])
                out.append(name)
            except ImportError:
                pass
    return out


def per_class_set(cfg, generator: str, fold: int, exported: Path, n_per_class: int, progress: bool = True) -> Path:
    """For the DDPM study's sweep ("+n images per class"): `n_per_class` images of *every* class
    drawn from the generator behind `exported` (a balancing set has none of the largest class),
    under RUNS/synthetic/<set>-per-class/, with the exported set's trained_on.csv."""
    name = Path(exported).parent.name
    return scoring_set(cfg, name, exported, n_per_class, progress=progress,
                       out=per_class_dir(cfg.runs_dir, name))


def fold_synthetic(cfg, generator: str, fold: int, train_records: pd.DataFrame, progress: bool = True,
                   steps: int | None = None) -> Path:
    """The manifest of `generator` trained on this fold's training part: reused from
    RUNS/synthetic/<G>-fold<k>/ when it was trained on exactly these images, else trained now."""
    out_name = generator if fold == SPLIT else f"{generator}-fold{fold}"
    manifest = synthetic_dir(cfg.runs_dir, out_name) / MANIFEST
    train_paths = {str(Path(p).resolve()) for p in train_records["path"]}
    if manifest.exists():
        try:
            if read_trained_on(manifest) <= train_paths:
                return manifest
        except Exception:  # no trained_on.csv: cannot be trusted, retrain
            pass
    if generator not in GENERATORS:  # an imported set the course cannot train again
        raise DataError(f"{manifest.parent} was not trained on {'the split' if fold == SPLIT else f'fold {fold}'}'s "
                        "training part only (its trained_on.csv lists other images, or is missing), and the course "
                        f"cannot train {generator!r} again: export a set trained on that part only, or leave it out.")
    return Path(train_and_export(generator, cfg, train_records=train_records.reset_index(drop=True),
                                 out_name=out_name, steps=steps, progress=progress))


def set_job(cfg, records, todo, setting, fold, preset, sets: dict, progress: bool = True) -> Job | None:
    """The job that makes the synthetic set a run trains with (None for real-only): one per
    (generator, fold), kept in `sets`, and one more for the sweep (the same n for every class,
    up to the largest n asked). A dependency of the runs (helpers.parallel): on Ray a task of
    its own, elsewhere made in this process before the runs train."""
    if not setting.generator:
        return None
    key = (setting.generator, fold)
    if key not in sets:
        sets[key] = Job(fold_synthetic, (cfg, setting.generator, fold, generator_records(records, fold)),
                        dict(progress=progress, steps=preset.gen_steps), gpu_shares=2)
    if not setting.per_class:
        return sets[key]
    if (key, "per-class") not in sets:
        need = max(r[1].per_class or 0 for r in todo if r[1].generator == setting.generator)
        sets[(key, "per-class")] = Job(per_class_set, (cfg, setting.generator, fold, sets[key], need, progress),
                                       gpu_shares=2)
    return sets[(key, "per-class")]
