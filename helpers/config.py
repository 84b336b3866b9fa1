"""Profiles (smoke / quick / paper) and the resolved configuration every stage reads.

A notebook's `parameters` cell holds only plain values (papermill overwrites them); the
next cell calls `setup(...)`, which resolves them into a `Config`. Stage-specific presets
(GAN steps, DDPM widths, classifier epochs, ...) live beside each stage and are looked up
by `cfg.profile`, so this file only carries what every stage shares.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from helpers.data import registry
from helpers.errors import SettingError
from helpers.presets import NON_NEGATIVE, Preset, Rule, Table

PROFILES = ("smoke", "quick", "paper")
DATASETS = tuple(registry.DATASETS)  # the --dataset choices; each one's facts are its registry record

# Data-level settings per profile. Phantom counts follow BUSI (437 / 133 / 210) except in
# `smoke`, which keeps every class but only a few images so the notebooks run in seconds.
# `phantom_size` is the phantom's nominal image side: scans vary from about 0.4x to 2x of it
# (BUSI's 190-1050 px at 512); smoke keeps small images.
IMAGE_SIZES = tuple(2 ** k for k in range(4, 11))  # 16 ... 1024 px, what any stage can be asked for


@dataclass(frozen=True)
class DataPreset(Preset):
    size: int
    phantom_counts: dict[str, int]
    phantom_size: int
    n_folds: int
    description: str = ""

    RULES = {"size": Rule(choices=IMAGE_SIZES), "phantom_counts": NON_NEGATIVE, "phantom_size": Rule(lo=16),
             "n_folds": Rule(lo=2)}
    STAGE = "The data profile"


PROFILE_DATA = Table("the data", {
    "smoke": DataPreset(size=32, phantom_counts={"benign": 21, "normal": 14, "malignant": 14},
                        phantom_size=64, n_folds=3, description="tests: tiny phantom set, 32 px, a few steps"),
    "quick": DataPreset(size=64, phantom_counts={"benign": 437, "normal": 133, "malignant": 210},
                        phantom_size=512, n_folds=5, description="laptop CPU: phantom data, 64 px, small nets"),
    "paper": DataPreset(size=128, phantom_counts={"benign": 437, "normal": 133, "malignant": 210},
                        phantom_size=512, n_folds=10, description="one GPU: real BUSI, 128 px, the studies' hyperparameters"),
})


@dataclass(frozen=True)
class Config:
    """Everything a stage needs to know about the run it belongs to."""

    profile: str
    dataset: str
    data_dir: Path
    runs_dir: Path
    seed: int = 0
    size: int = 64
    n_folds: int = 10
    val_frac: float = 0.15
    test_frac: float = 0.15
    dup_threshold: float = 0.97
    phantom_counts: dict = field(default_factory=dict)
    phantom_size: int = 512
    device: str = "cpu"
    description: str = ""
    classes: tuple = ()  # the dataset's class names, in label order (label i is classes[i])
    channels: int = 1  # 1 grey, 3 RGB: how the dataset's images are read
    # {stage: {setting: value}}: `--set` changes of a stage that reads its preset from the run's
    # config (the quality stage, `helpers.quality.preset(cfg)`); the others take a preset argument
    stage_changes: dict = field(default_factory=dict)

    @property
    def records_path(self) -> Path:
        return self.runs_dir / "data" / "records.csv"

    @property
    def cache_dir(self) -> Path:
        return self.runs_dir / "cache"

    def stage_dir(self, *parts: str) -> Path:
        """A folder under the runs folder, created on first use."""
        path = self.runs_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def with_(self, **changes) -> Config:
        return replace(self, **changes)


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def plain_name(name: str, what: str = "name") -> str:
    """`name` if it is a plain folder name (letters, digits, '.', '_', '-', not starting with a
    dot), so that a run or set named by the user stays inside the runs folder."""
    if not isinstance(name, str) or not _PLAIN.fullmatch(name) or set(name) == {"."}:
        raise SettingError(f"{what} {name!r} is not a plain name: use letters, digits, '.', '_' and '-' "
                           "(no '/', no '..', not starting with '.'), e.g. wgan-lr2e4.")
    return name


def pick_device() -> str:
    """cuda > mps > cpu, chosen once. COURSE_DEVICE overrides (e.g. to force 'cpu')."""
    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        return forced
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_data_dir(dataset: str, profile: str, root: str | os.PathLike | None = None) -> Path:
    """Where a dataset lives when the user did not say: `<root>/<dataset>`.

    The smoke profile's tiny set of data made in code (the phantom) gets its own folder,
    `<dataset>-smoke`, so that it never shadows the full one. `root` defaults to
    COURSE_DATA_ROOT, else `data/` in the project folder.
    """
    root = Path(root or os.environ.get("COURSE_DATA_ROOT") or _project_root() / "data")
    made = registry.dataset(dataset).make is not None
    return root / (f"{dataset}-smoke" if made and profile == "smoke" else dataset)


def default_runs_dir(profile: str, dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where a run's outputs go when the user did not say: `runs/<profile>-<dataset>` in the
    project; for data that says what it holds (`folder`) one per data folder, named after it,
    so that generators trained on one folder are never resumed on another."""
    name = f"{profile}-{dataset}"
    if registry.dataset(dataset).describe is not None:
        if data_dir is None:
            raise SettingError(f"--dataset {dataset} has no default runs folder: give --runs-dir (or --data-dir).")
        name += "-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", Path(data_dir).expanduser().resolve().name).strip(".-")
                       or "data")
    return _project_root() / "runs" / name


def _is_project(p: Path) -> bool:
    return (p / "pyproject.toml").exists() and (p / "helpers").is_dir()


def _project_root() -> Path:
    """Where data/ and runs/ go by default: COURSE_HOME if set; else the course folder above
    the working directory (notebooks run in notebooks/); else the course folder this package
    was installed from (`pip install -e`), so a notebook opened elsewhere (an nbgrader
    release, a student copy) still finds the course's data and runs; else the working
    directory itself (e.g. on Colab)."""
    if os.environ.get("COURSE_HOME"):
        return Path(os.environ["COURSE_HOME"]).expanduser().resolve()
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if _is_project(p):
            return p
    installed = Path(__file__).resolve().parents[1]
    return installed if _is_project(installed) else here


def whole_seed(seed) -> int:
    """The seed as a whole number; the notebooks pass COURSE_SEED's text as it is."""
    try:
        return int(str(seed).strip())
    except ValueError:
        raise SettingError(f"The seed wants a whole number, e.g. 0; got {seed!r} (--seed, COURSE_SEED or SEED in a "
                           "notebook's parameters cell).") from None


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the path as written
        return path.absolute()


def _outside_data(runs_dir: Path, data_dir: Path) -> None:
    """No stage writes into a folder it did not create: the runs folder must not be the data
    folder or lie inside it (records, thumbnails and checkpoints would land among the images)."""
    runs, data = _real(runs_dir), _real(data_dir)
    if runs == data or data in runs.parents:
        where = "is" if runs == data else "lies inside"
        raise SettingError(f"The runs folder {runs_dir} {where} the data folder {data_dir}, and the course never "
                           "writes into a data folder: give --runs-dir (COURSE_RUNS_DIR in a notebook) a folder "
                           "outside it, e.g. runs/mine.")


def _writable(runs_dir: Path) -> None:
    """Make the runs folder and prove it takes a file, before any stage spends time on work it
    could not save."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise SettingError(f"The runs folder {runs_dir} is a file: give --runs-dir (COURSE_RUNS_DIR in a notebook) "
                           "a folder.")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as e:
        raise SettingError(f"The runs folder {runs_dir} cannot be written ({e.strerror or e}): give --runs-dir "
                           "(COURSE_RUNS_DIR in a notebook) a folder you can write to.") from None


def resolve(profile: str = "quick", dataset: str = "phantom", data_dir: str | os.PathLike | None = None,
            runs_dir: str | os.PathLike | None = None, seed: int = 0, **overrides) -> Config:
    """Turn the notebook parameters (or CLI flags) into a Config, validating each value. The
    dataset's classes and channels come from its registry record, or from its folder (`folder`)."""
    if profile not in PROFILES:
        raise SettingError(f"Unknown profile {profile!r} (--profile, COURSE_PROFILE in a notebook); choose one of "
                           f"{', '.join(PROFILES)}.")
    ds = registry.dataset(dataset)
    pd = PROFILE_DATA[profile].as_dict()
    if ds.make is None:
        pd["phantom_counts"] = {}  # only data made in code has counts to make
    if data_dir:
        data_dir = Path(data_dir).expanduser()
    elif ds.describe is not None:
        raise SettingError(f"--dataset {dataset} needs --data-dir: the folder holding one sub-folder of images per "
                           "class (in a notebook: COURSE_DATA_DIR, or DATA_DIR in the parameters cell).")
    else:
        data_dir = default_data_dir(dataset, profile).expanduser()
    classes, channels = ds.classes_and_channels(data_dir)
    runs_dir = (Path(runs_dir) if runs_dir else default_runs_dir(profile, dataset, data_dir)).expanduser()
    _outside_data(runs_dir, data_dir)
    cfg = Config(profile=profile, dataset=dataset, data_dir=data_dir, runs_dir=runs_dir, seed=whole_seed(seed),
                 device=pick_device(), dup_threshold=ds.dup_threshold or Config.dup_threshold, classes=classes,
                 channels=channels, **pd)
    return cfg.with_(**overrides) if overrides else cfg


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(profile: str = "quick", dataset: str = "phantom", data_dir=None, runs_dir=None, seed: int = 0,
          verbose: bool = True, **overrides) -> Config:
    """What a notebook's second cell calls: resolve, seed, create the runs folder, report."""
    cfg = resolve(profile, dataset, data_dir, runs_dir, seed, **overrides)
    seed_everything(cfg.seed)
    _writable(cfg.runs_dir)
    if verbose:
        print(f"profile={cfg.profile} ({cfg.description})\ndataset={cfg.dataset} data_dir={cfg.data_dir}\n"
              f"runs_dir={cfg.runs_dir} size={cfg.size}px device={cfg.device} seed={cfg.seed}")
    return cfg
