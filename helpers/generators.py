"""The generators the course trains, behind one call.

Each entry names a function `run(name, cfg, train_records, out_name=None, steps=None,
progress=True, **changes) -> manifest path` (changes: preset settings) that trains
generator `name` on `train_records` only (the training part of a split or fold), writes its
runs under `RUNS/generators/<out_name>/` and exports a class-balanced synthetic set to
`RUNS/synthetic/<out_name>/manifest.csv`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

GENERATORS = {
    "wgan": "helpers.gan.pipeline:run",
    "wgan-gp": "helpers.gan.pipeline:run",
    "dcgan": "helpers.gan.pipeline:run",
    "cwgan": "helpers.gan.pipeline:run",
    "ddpm": "helpers.ddpm.pipeline:run",
    "flow": "helpers.flow.pipeline:run",  # flow matching, beyond the five studies
}


def _resolve(name: str):
    if name not in GENERATORS:
        from helpers.errors import SettingError

        raise SettingError(f"Unknown generator {name!r}; choose one of {', '.join(GENERATORS)}.")
    module, fn = GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), fn)


def train_and_export(name: str, cfg, train_records=None, out_name: str | None = None, steps: int | None = None,
                     progress: bool = True, **changes) -> Path:
    """Train `name` on the training split of cfg's prepared records (or `train_records`)
    and export its balanced synthetic set; returns the manifest path. `changes` override
    settings of the profile's preset (e.g. n_critic=5)."""
    if train_records is None:
        from helpers.prepare import load_prepared

        records = load_prepared(cfg, progress=progress)
        train_records = records[records["split"] == "train"].reset_index(drop=True)
    return _resolve(name)(name, cfg, train_records, out_name=out_name, steps=steps, progress=progress,
                         **changes)
