"""Synthetic image sets: PNGs plus a manifest, the only way classifiers see synthetic data.

A set lives in `RUNS/synthetic/<generator>/`: `<class>/<generator>_<class>_<i>.png` and
`manifest.csv` with one row per image: path (relative to the manifest), class_name, label,
generator, checkpoint (sha256 of the weights file that made it), seed, size, index, and the
batch of the sampling calls. The experiment table can then name exactly which images it used,
and a test can prove no synthetic image reaches an evaluation.

A set is drawn in calls (class, n, call seed) (`sample_calls`), each a function of the
checkpoint alone: two sets of one generator with the same seed and batch share their first
calls of each class, and a set being written takes those images from a set already on disk
(`held_calls`) instead of drawing them again (the DDPM's exported, scoring and per-class sets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers.config import plain_name
from helpers.data.records import DataError
from helpers.data.registry import class_names
from helpers.train.lock import run_lock

MANIFEST = "manifest.csv"
TRAINED_ON = "trained_on.csv"
MANIFEST_COLUMNS = ["path", "class_name", "label", "generator", "checkpoint", "seed", "size", "index"]
WRITTEN_COLUMNS = MANIFEST_COLUMNS + ["batch"]  # a set written before the batch was recorded lacks it


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def balance_counts(counts: dict, target: int | None = None, extra: int = 0) -> dict:
    """How many synthetic images each class needs to reach `target` (default: the largest
    class) plus `extra`. The WGAN study balanced BUSI to 487 per class (437 + 50 for benign);
    the DCGAN study to 437, i.e. `extra=50` vs `extra=0` on the full set."""
    goal = (max(counts.values()) if target is None else int(target)) + int(extra)
    return {c: max(0, goal - int(n)) for c, n in counts.items()}


def synthetic_dir(runs_dir: str | Path, generator: str) -> Path:
    return Path(runs_dir) / "synthetic" / plain_name(generator, "synthetic-set name")


def per_class_dir(runs_dir: str | Path, name: str) -> Path:
    """Where the same number of images of every class, drawn from the generator behind set
    `name`, is kept (the DDPM study's sweep, notebooks 06b and 08)."""
    return synthetic_dir(runs_dir, f"{name}-per-class")


def _labels(dataset: str | None, classes) -> dict:
    """{class name: label}: from `classes` (the run's, cfg.classes) when given, else from the
    registry record of `dataset` (whose classes must then be fixed, not its folder's)."""
    return {c: i for i, c in enumerate(classes if classes is not None else class_names(dataset))}


def sample_calls(counts: dict, dataset: str | None = None, seed: int = 0, batch: int = 64, *,
                 classes=None) -> list[tuple[str, int, int]]:
    """The (class_name, n, seed) of every `sample_fn` call `write_synthetic_set` makes, in order.
    Each batch has a seed of its own, so the calls can be made in any order, or at once."""
    labels = _labels(dataset, classes)
    return [(cls, min(batch, n - done), seed * 100_003 + labels[cls] * 10_007 + done)
            for cls, n in counts.items() for done in range(0, n, batch)]


def write_synthetic_set(out_dir: str | Path, generator: str, sample_fn: Callable[[str, int, int], np.ndarray],
                        counts: dict, dataset: str = "busi", checkpoint: str | Path | dict | None = None,
                        seed: int = 0, batch: int = 64, progress: bool = True,
                        trained_on: list[str] | None = None, classes=None) -> Path:
    """Generate `counts[class]` images per class with `sample_fn(class_name, n, seed)`
    (-> uint8 array (n, H, W), or (n, H, W, 3) written as RGB PNGs) and write them with their
    manifest. Returns the manifest path.

    `checkpoint` is the weights file that made the images, or {class: file} when each class
    has its own model (the per-class GANs); its sha256 is recorded per image.
    `trained_on` lists the real images the generator was trained on; it is saved as
    `trained_on.csv` so that an evaluation can prove none of its test images was seen.
    Labels are positions in `classes` (the run's, cfg.classes), or in the classes of
    `dataset` when `classes` is not given.
    The manifest is written last, so a set without one is known to be incomplete."""
    out_dir = Path(out_dir)
    labels = _labels(dataset, classes)
    with run_lock(out_dir, what="exported"):  # two exports into one folder would mix their images
        return _write_set(out_dir, generator, sample_fn, counts, labels, checkpoint, seed, batch, progress,
                          trained_on)


def _write_set(out_dir: Path, generator, sample_fn, counts, labels, checkpoint, seed, batch, progress,
               trained_on) -> Path:
    (out_dir / MANIFEST).unlink(missing_ok=True)
    if isinstance(checkpoint, dict):
        ck_hash = {c: sha256_file(p) for c, p in checkpoint.items()}
    else:
        ck_hash = dict.fromkeys(counts, sha256_file(checkpoint) if checkpoint else "")
    rows = []
    for cls in counts:
        (out_dir / cls).mkdir(exist_ok=True)
    with tqdm(total=sum(counts.values()), desc=f"exporting {generator}", unit="img", disable=not progress) as bar:
        done = dict.fromkeys(counts, 0)
        for cls, k, call_seed in sample_calls(counts, seed=seed, batch=batch, classes=list(labels)):
            imgs = np.asarray(sample_fn(cls, k, call_seed))
            rgb = imgs.ndim == 4 and imgs.shape[-1] == 3
            if imgs.dtype != np.uint8 or not (imgs.ndim == 3 or rgb) or len(imgs) != k:
                raise TypeError(f"sample_fn must return uint8 (n, H, W) or (n, H, W, 3); got {imgs.dtype} "
                                f"{imgs.shape}")
            for j, im in enumerate(imgs):
                rel = Path(cls) / f"{generator}_{cls}_{done[cls] + j:05d}.png"
                Image.fromarray(im, mode="RGB" if rgb else "L").save(out_dir / rel)
                rows.append(dict(path=rel.as_posix(), class_name=cls, label=labels[cls], generator=generator,
                                 checkpoint=ck_hash.get(cls, ""), seed=seed, size=im.shape[0], index=done[cls] + j,
                                 batch=batch))
            done[cls] += k
            bar.update(k)
    if trained_on is not None:
        pd.DataFrame({"path": [str(Path(p).resolve()) for p in trained_on]}).to_csv(out_dir / TRAINED_ON, index=False)
    manifest = out_dir / MANIFEST
    pd.DataFrame(rows, columns=WRITTEN_COLUMNS).to_csv(manifest, index=False)
    return manifest


def held_calls(manifest: str | Path, hashes: dict, size: int, classes) -> dict[tuple, list[Path]]:
    """{(class, n, call seed): its image files} of every sampling call whose images the finished
    set at `manifest` holds, for the classes whose checkpoint hash is `hashes[class]`, at `size`
    ({} for a set without a manifest or without its batch recorded)."""
    manifest = Path(manifest)
    if not manifest.exists():
        return {}
    df = pd.read_csv(manifest)
    if "batch" not in df.columns:
        return {}
    out = {}
    for (cls, seed, batch), part in df.groupby(["class_name", "seed", "batch"]):
        if cls not in hashes or set(part["checkpoint"]) != {hashes[cls]} or set(part["size"]) != {size}:
            continue
        files, batch = dict(zip(part["index"], part["path"])), int(batch)
        calls = sample_calls({cls: len(part)}, seed=int(seed), batch=batch, classes=classes)
        for i, (c, n, call_seed) in enumerate(calls):  # call i holds the images i * batch, ... on
            paths = [manifest.parent / files[j] for j in range(i * batch, i * batch + n) if j in files]
            if len(paths) == n and all(p.exists() for p in paths):
                out[(c, n, call_seed)] = paths
    return out


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A manifest with absolute paths; every listed file must exist."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.exists():
        raise DataError(f"No synthetic-set manifest at {path}. Train and export a generator first "
                        "(`python -m helpers train <generator> ...`).")
    df = pd.read_csv(path)
    missing_cols = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing_cols:
        raise DataError(f"{path} lacks columns {missing_cols}; re-export the synthetic set.")
    df["path"] = [str((path.parent / p).resolve()) for p in df["path"]]
    missing = [p for p in df["path"] if not Path(p).exists()]
    if missing:
        raise DataError(f"{len(missing)} image(s) listed in {path} are missing (e.g. {missing[0]}); re-export the set.")
    df["source"] = "synthetic"
    return df


def read_trained_on(manifest: str | Path) -> set[str]:
    """The real images the set's generator saw in training (absolute paths)."""
    path = Path(manifest)
    path = (path if path.is_dir() else path.parent) / TRAINED_ON
    if not path.exists():
        raise DataError(f"{path} is missing: the set does not say what its generator was trained on, so it "
                        "cannot be shown to be free of test images. Re-export it.")
    return set(pd.read_csv(path)["path"])


def find_manifests(runs_dir: str | Path) -> dict[str, Path]:
    """Every complete synthetic set under RUNS/synthetic/, by generator name."""
    root = Path(runs_dir) / "synthetic"
    return {p.parent.name: p for p in sorted(root.glob(f"*/{MANIFEST}"))}
