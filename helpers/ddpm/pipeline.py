"""Train the class-conditional DDPM on a training split and export a balanced synthetic set.

`run` is what `helpers.generators` calls for "ddpm" (and so `python -m helpers train ddpm`).
One model serves all classes (the label is an input), so there is one run folder,
`RUNS/generators/<out_name>/all/`. Re-running with a finished run skips training, and a
synthetic set already exported from the same checkpoint is kept as it is.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.config import plain_name
from helpers.data.preprocess import images_uint8, load_images
from helpers.data.records import DataError, validate_records
from helpers.ddpm.presets import preset
from helpers.ddpm.train import TrainedDDPM, load_trained, train_ddpm
from helpers.errors import SettingError
from helpers.synth import (
    MANIFEST,
    TRAINED_ON,
    balance_counts,
    read_trained_on,
    sha256_file,
    synthetic_dir,
    write_synthetic_set,
)


def run_dir(cfg, out_name: str = "ddpm") -> Path:
    return cfg.runs_dir / "generators" / plain_name(out_name, "run name") / "all"


def train(cfg, train_records: pd.DataFrame, out_name: str = "ddpm", steps: int | None = None,
          progress: bool = True, step=None, **overrides) -> TrainedDDPM:
    """Train (or resume / load) the DDPM of this profile on `train_records`; `step(run, i)` is
    the training step (default: notebook 06's, helpers.ddpm.steps.ddpm_train_step)."""
    if len(train_records) == 0:
        raise DataError("No training images were given to the DDPM; check the split in RUNS/data/records.csv.")
    validate_records(train_records, "the training records", classes=cfg.classes)
    names = cfg.classes
    p = preset(cfg.profile, steps=steps, **overrides)
    images = load_images(train_records, cfg.size, cfg.cache_dir, progress=progress)
    return train_ddpm(images, train_records["label"].to_numpy(), run_dir(cfg, out_name), p, len(names),
                      device=cfg.device, seed=cfg.seed, progress=progress, class_names=names, step=step)


def load(cfg, out_name: str = "ddpm") -> TrainedDDPM:
    return load_trained(run_dir(cfg, out_name), device=cfg.device)


def _existing_set_matches(out_dir: Path, checkpoint: Path, counts: dict, trained_on: list) -> bool:
    """True when out_dir already holds this set: same checkpoint, counts and training images."""
    if not (out_dir / MANIFEST).exists() or not (out_dir / TRAINED_ON).exists():
        return False
    df = pd.read_csv(out_dir / MANIFEST)
    made = df["class_name"].value_counts().to_dict()
    if any(made.get(c, 0) != n for c, n in counts.items()):
        return False
    if len(df) and set(df["checkpoint"]) != {sha256_file(checkpoint)}:
        return False
    return read_trained_on(out_dir) == {str(Path(p).resolve()) for p in trained_on}


def export(trained: TrainedDDPM, cfg, train_records: pd.DataFrame, out_name: str = "ddpm",
           progress: bool = True) -> Path:
    """Write the class-balanced synthetic set (DDIM with the preset's steps, eta, guidance)."""
    names = cfg.classes
    label_of = {c: i for i, c in enumerate(names)}
    train_counts = train_records["class_name"].value_counts().to_dict()
    counts = balance_counts({c: train_counts.get(c, 0) for c in names})
    out_dir = synthetic_dir(cfg.runs_dir, out_name)
    if _existing_set_matches(out_dir, trained.checkpoint, counts, list(train_records["path"])):
        return out_dir / MANIFEST

    def sample_fn(class_name: str, n: int, seed: int):
        return images_uint8(trained.generate(label_of[class_name], n, seed=seed))

    return write_synthetic_set(out_dir, out_name, sample_fn, counts, classes=cfg.classes,
                               checkpoint=trained.checkpoint, seed=cfg.seed, batch=trained.preset.export_batch,
                               progress=progress, trained_on=list(train_records["path"]))


def run(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, steps: int | None = None,
        progress: bool = True, step=None, **overrides) -> Path:
    """Train on `train_records` only, then export; returns the manifest path.
    `overrides` change preset settings (e.g. base=16); give them their own out_name."""
    if name != "ddpm":
        raise SettingError(f"helpers.ddpm.pipeline trains 'ddpm', not {name!r}")
    out_name = out_name or name
    trained = train(cfg, train_records, out_name, steps=steps, progress=progress, step=step, **overrides)
    return export(trained, cfg, train_records, out_name, progress=progress)
