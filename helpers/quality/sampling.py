"""Sets drawn for scoring: the same number of images per class from every generator.

An exported set balances the training split (e.g. no benign images at all, since benign is
the largest class), so per-class scores and train-on-synthetic accuracy computed on it
would judge the class mix, not the generator. For scoring, each trained generator draws a
fixed number of images of every class it has a model for, into
RUNS/quality/scoring/<name>/ (a manifest like any synthetic set, with the same
`trained_on.csv` as the exported set). Classes a generator was never trained on (the
DCGAN study's generators exist only for the minority classes) stay out and show as blank.
A scoring set is drawn with the exported set's seed and batch: the sampling calls the two share
(each class's first full batches) are read from the exported files, and from an earlier scoring
or per-class set, instead of being drawn again (helpers.synth.held_calls): the same images,
for the DDPM 900 images drawn in the course instead of 1,600 (notebooks 06b and 07).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers import parallel
from helpers.data.preprocess import images_uint8
from helpers.ddpm.pipeline import load_trained
from helpers.flow.pipeline import load_trained as load_flow
from helpers.gan.core import load_generator, sample_uint8
from helpers.gan.pipeline import current_set
from helpers.generators import GENERATORS
from helpers.quality.presets import preset
from helpers.synth import (
    MANIFEST,
    TRAINED_ON,
    held_calls,
    per_class_dir,
    sample_calls,
    sha256_file,
    write_synthetic_set,
)
from helpers.train.loop import CHECKPOINT

BATCH = 64  # images per sampling call


def kind_of(name: str) -> str | None:
    """The generator a set name stands for: 'wgan-gp-resize' -> 'wgan-gp', 'ddpm-v' -> 'ddpm'."""
    hits = [k for k in GENERATORS if name == k or name.startswith(k + "-")]
    return max(hits, key=len) if hits else None


def _checkpoints(cfg, name: str, kind: str) -> dict:
    """{class: checkpoint file} of the trained models behind set `name`."""
    root = cfg.runs_dir / "generators" / name
    classes = cfg.classes
    if kind in ("cwgan", "ddpm", "flow"):  # one model for every class
        ck = root / "all" / CHECKPOINT
        return dict.fromkeys(classes, ck) if ck.exists() else {}
    return {c: root / c / CHECKPOINT for c in classes if (root / c / CHECKPOINT).exists()}


def scoring_set(cfg, name: str, exported: Path, n_per_class: int, progress: bool = True,
                out: Path | None = None) -> Path:
    """The manifest of `n_per_class` images per class drawn from the generator behind the
    exported set `exported` (named `name`), written to `out` (default RUNS/quality/scoring/<name>);
    the exported manifest itself when no trained model can be found (a set made elsewhere)."""
    kind = kind_of(name)
    cks = _checkpoints(cfg, name, kind) if kind else {}
    if not cks:
        return Path(exported)
    labels = {c: i for i, c in enumerate(cfg.classes)}
    counts = {c: int(n_per_class) for c in cks}
    hashes = {c: sha256_file(p) for c, p in cks.items()}
    default = cfg.runs_dir / "quality" / "scoring" / name
    out = Path(out) if out is not None else default
    manifest = out / MANIFEST
    seed, batch = cfg.seed, BATCH  # the exported set's: see the module's note
    if current_set(manifest, counts, hashes, cfg.size, seed):
        return manifest
    if kind in ("ddpm", "flow"):
        model = (load_trained if kind == "ddpm" else load_flow)(cks[next(iter(cks))].parent, cfg.device)
        batch = model.preset.export_batch

        def sample_fn(cls, n, seed):
            return images_uint8(model.generate(labels[cls], n, seed=seed))
    else:
        # loaded here, not in the sampling threads (building a network draws from torch's global generator)
        nets = {ck: load_generator(ck.parent, cfg.device) for ck in dict.fromkeys(cks.values())}

        def sample_fn(cls, n, seed):
            return sample_uint8(nets[cks[cls]], n, seed, labels[cls] if kind == "cwgan" else None, cfg.device)

    trained_on = None
    if (Path(exported).parent / TRAINED_ON).exists():
        trained_on = list(pd.read_csv(Path(exported).parent / TRAINED_ON)["path"])
    calls = sample_calls(counts, seed=seed, batch=batch, classes=cfg.classes)
    held = {}
    for source in dict.fromkeys([Path(exported), manifest, default / MANIFEST,
                                 per_class_dir(cfg.runs_dir, name) / MANIFEST]):
        held = held_calls(source, hashes, cfg.size, cfg.classes) | held
    # read before `out` is cleared; every other call has its own seed, so all are drawn at once on
    # a CPU (helpers.parallel), the same images as one after another; written in order
    drawn = {c: np.stack([np.asarray(Image.open(p)) for p in held[c]]) for c in calls if c in held}
    todo = [c for c in calls if c not in drawn]
    drawn |= parallel.run({c: parallel.task(sample_fn, *c) for c in todo}, parallel.side_by_side(len(todo), cfg.device))
    if out.exists():
        shutil.rmtree(out)
    return write_synthetic_set(out, name, lambda *c: drawn.pop(c) if c in drawn else sample_fn(*c), counts,
                               classes=cfg.classes, checkpoint=cks, seed=seed, batch=batch, progress=progress,
                               trained_on=trained_on)


def scoring_sets(cfg, manifests: dict, n_per_class: int | None = None, progress: bool = True) -> dict:
    """{name: scoring manifest} for every exported set in `manifests` ({name: manifest})."""
    n = int(n_per_class or preset(cfg).score_per_class)
    return {name: scoring_set(cfg, name, m, n, progress) for name, m in manifests.items()}
