"""A run's state at half its steps, kept for a shorter run with the same settings.

Notebooks 03-05 compare a changed training step with the unchanged one at half the main run's
steps, "a quick look". The unchanged run at half the steps is the main run as it was halfway:
the same settings, seed, data and step function (the run's config) give the same weights, on
one machine up to the order of floating-point sums. So a run given a store keeps its checkpoint
and history at half its steps there, under a key of its config (RESUMABLE_CHANGES left out),
and a run that starts from nothing with the same key and at least that many steps starts from
the kept state instead of training those steps again, and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def key(config: dict, ignore) -> str:
    kept = {k: v for k, v in config.items() if k not in ignore}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:20]


def keep(store: Path, config: dict, ignore, step: int, files: list[Path]) -> None:
    """Copy `files` (a checkpoint and its history) to store/<key>-<step>/, whole or not at all."""
    dest = Path(store) / f"{key(config, ignore)}-{step}"
    if dest.exists():
        return
    Path(store).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".part-", dir=store))
    for f in files:
        shutil.copy2(f, tmp / f.name)
    try:
        os.rename(tmp, dest)
    except OSError:  # another process kept the same state first
        shutil.rmtree(tmp, ignore_errors=True)


def restore(store: Path | None, config: dict, ignore, total_steps: int, run_dir: Path) -> int:
    """Copy the latest kept state of an equal run at no more than `total_steps` into `run_dir`,
    which has no checkpoint yet; its step (0: none)."""
    if store is None or not Path(store).is_dir():
        return 0
    found = [(int(p.name.rsplit("-", 1)[1]), p) for p in Path(store).glob(f"{key(config, ignore)}-*") if p.is_dir()]
    found = [(s, p) for s, p in found if s <= total_steps]
    if not found:
        return 0
    step, src = max(found)
    for f in src.iterdir():
        shutil.copy2(f, Path(run_dir) / f.name)
    print(f"{run_dir}: starting from step {step} of an earlier run with the same settings, seed and data "
          f"(kept in {src}).")
    return step
