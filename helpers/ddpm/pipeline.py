"""Train the class-conditional DDPM on a training split and export a balanced synthetic set.

`run` is what `helpers.generators` calls for "ddpm" (and so `python -m helpers train ddpm`).
One model serves all classes (the label is an input), so there is one run folder,
`RUNS/generators/<out_name>/all/`. Re-running with a finished run skips training, and a
synthetic set already exported from the same checkpoint is kept as it is.

Training (`train_ddpm`) runs on `helpers.train.loop.Trainer`: one Trainer step = one optimizer
step on one batch drawn from the images, which live on the device as one tensor. The step (and
the loss) are written in notebook 06 and copied to helpers.ddpm.steps; `train_ddpm(...,
step=...)` trains with another one. All randomness (batch indices, t, noise, label dropout)
comes from one torch.Generator that the Trainer checkpoints, so a resumed run on CPU ends with
bit-identical weights. The EMA copy of the weights (what we sample from) is kept with
`torch.optim.swa_utils.AveragedModel` and checkpointed with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.config import plain_name
from helpers.data.preprocess import channels_config, images_uint8, load_images, to_nchw
from helpers.data.records import DataError, validate_records
from helpers.ddpm.diffusion import Schedule, sample
from helpers.ddpm.ema import make_ema
from helpers.ddpm.presets import DDPMPreset, preset
from helpers.ddpm.steps import DDPMRun, ddpm_train_step
from helpers.ddpm.unet import UNet, memory_format
from helpers.errors import CheckpointError, SettingError
from helpers.synth import (
    MANIFEST,
    TRAINED_ON,
    balance_counts,
    read_trained_on,
    sha256_file,
    synthetic_dir,
    write_synthetic_set,
)
from helpers.train.checkpoint import load_checkpoint, step_config
from helpers.train.compiled import compile_module
from helpers.train.loop import CHECKPOINT, History, Trainer
from helpers.train.rng import device_label

BALANCE = ("weights", "sampling", "none")


@dataclass
class TrainedDDPM:
    """A trained model: the EMA network to sample from, its schedule and settings."""

    model: torch.nn.Module  # EMA weights, eval mode
    sched: Schedule
    preset: DDPMPreset
    size: int
    run_dir: Path
    history: History | None = None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    def generate(self, label, n: int, seed: int = 0, method: str = "ddim", steps: int | None = None,
                 eta: float | None = None, guidance: float | None = None, batch: int | None = None,
                 progress: bool = False) -> torch.Tensor:
        """n images of class `label` in [-1, 1] (on CPU), deterministic given the seed and the kind of
        device (the noise is drawn on the model's device: a GPU draws other numbers than a CPU);
        `label` a sequence of classes: one image each (n is then ignored)."""
        p = self.preset
        dev = next(self.model.parameters()).device
        g = torch.Generator(device=dev).manual_seed(int(seed))
        labels = label_batch(label, n, dev)
        out, batch = [], batch or p.export_batch
        for i in range(0, len(labels), batch):
            y = labels[i:i + batch]
            out.append(sample(self.model, y, self.sched, self.size, method=method,
                              steps=steps or p.ddim_steps, eta=p.eta if eta is None else eta,
                              guidance=p.guidance if guidance is None else guidance, objective=p.objective,
                              generator=g, progress=progress).cpu())
        return torch.cat(out) if out else torch.empty(0, self.model.in_ch, self.size, self.size)


def label_batch(label, n: int, device) -> torch.Tensor:
    """The labels of a draw: `n` images of class `label` (an int), or one image per entry of
    `label` (a sequence: several classes in one batch, cheaper per image on a CPU)."""
    if isinstance(label, (int, np.integer)):
        return torch.full((int(n),), int(label), device=device, dtype=torch.long)
    return torch.as_tensor(np.asarray(label), dtype=torch.long, device=device)


def class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n / (k n_c) per class (scikit-learn's "balanced", the DDPM study's choice): every
    class then carries the same total weight, and the mean weight per image is 1."""
    counts = torch.bincount(labels.cpu(), minlength=n_classes).double()
    present = counts > 0
    w = torch.zeros(n_classes, dtype=torch.float64)
    w[present] = len(labels) / (present.sum() * counts[present])
    return w.float()


def build_model(preset: DDPMPreset, size: int, n_classes: int, channels: int = 1) -> UNet:
    return UNet(size=size, in_ch=channels, n_classes=n_classes, **preset.net_kwargs())


def _as_tensor(images) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,3) -> float [-1,1] (N,C,H,W); float input is taken to be in [-1,1]
    and (N,H,W) or (N,C,H,W)."""
    x = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    if x.dtype == torch.uint8:
        return to_nchw(x)
    x = x.float()
    return x[:, None] if x.ndim == 3 else x


def train_ddpm(images, labels, run_dir: str | Path, preset: DDPMPreset, n_classes: int, device: str = "cpu",
               seed: int = 0, progress: bool = True, class_names: list[str] | None = None,
               step=None) -> TrainedDDPM:
    """Train (or resume, or just load when finished) a class-conditional DDPM.

    images: uint8 (N, H, W) / (N, H, W, 3) or float in [-1, 1]; labels: ints 0..n_classes-1. `step(run, i) ->
    dict` is the training step (default: helpers.ddpm.steps.ddpm_train_step, notebook 06's).
    Returns the EMA model ready for sampling, with the History of the run."""
    p = preset
    if p.balance not in BALANCE:
        raise SettingError(f"Unknown balance {p.balance!r}; choose one of {', '.join(BALANCE)}.")
    x = _as_tensor(images)
    y = torch.tensor(np.array(labels), dtype=torch.long)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as images (got {len(x)} images, {len(y)} labels)")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"images must be square, got {tuple(x.shape[-2:])}")
    size = x.shape[-1]
    torch.manual_seed(seed)  # the initial weights
    model = build_model(p, size, n_classes, channels=x.shape[1]).to(device)
    layout = memory_format(p.layout, device)  # the preset's `layout` (helpers.ddpm.unet.memory_format)
    model = model.to(memory_format=layout)
    x = x.to(memory_format=layout)
    ema = make_ema(model, p.ema_decay)
    ema.eval()
    compile_module(model, p.compile)  # after the EMA's copy: only the trained network is compiled
    x, y = x.to(device), y.to(device)  # the whole (small) data set lives on the device
    sched = Schedule.make(p.schedule, p.T)
    weights = class_weights(y, n_classes).to(device)
    draw_p = (1.0 / torch.bincount(y, minlength=n_classes).clamp(min=1).float())[y]  # balanced sampling
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.0)
    gen = torch.Generator(device=device).manual_seed(seed)
    names = class_names or [str(i) for i in range(n_classes)]

    run = DDPMRun(p, model, ema, opt, sched, x, y, weights, draw_p, gen, device)
    step = step or ddpm_train_step

    labels_grid = torch.arange(n_classes, device=device).repeat_interleave(p.grid_per_class)

    def grid(i: int):  # fixed noise (its own generator), one row per class, from the EMA weights
        g = torch.Generator(device=device).manual_seed(seed + 1_000_003)
        return sample(ema.module, labels_grid, sched, size, steps=p.ddim_steps, eta=p.eta, guidance=p.guidance,
                      objective=p.objective, generator=g)

    config = dict(p.as_dict(), size=size, n_classes=n_classes, class_names=names, n_images=len(x), seed=seed,
                  total_steps=p.steps, **channels_config(x.shape[1]), **step_config(step, ddpm_train_step),
                  device=device_label(device))
    trainer = Trainer(run_dir, p.steps, modules={"model": model, "ema": ema}, optimizers={"opt": opt},
                      generator=gen, checkpoint_every=p.checkpoint_every, sample_every=p.sample_every,
                      sample_fn=grid, config=config, desc="ddpm", progress=progress, nrow=p.grid_per_class,
                      diverge_hint="try a lower learning rate (lr), a longer warm-up or a smaller grad_clip")
    history = trainer.run(lambda i: step(run, i))  # the Trainer holds the run folder's lock
    ema.eval()
    return TrainedDDPM(ema.module, sched, p, size, Path(run_dir), history)


def load_trained(run_dir: str | Path, device: str = "cpu") -> TrainedDDPM:
    """The EMA model of a finished (or interrupted) run, rebuilt from its checkpoint."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"No DDPM checkpoint at {path}; train one first "
                              "(`python -m helpers train ddpm ...` or helpers.ddpm.pipeline.run).")
    ck, _ = load_checkpoint(path)
    c = ck["config"]
    known = {f for f in DDPMPreset.__dataclass_fields__}
    kw = {k: v for k, v in c.items() if k in known}
    kw["mults"] = tuple(kw["mults"])
    kw["attn_levels"] = None if kw.get("attn_levels") is None else tuple(kw["attn_levels"])
    p = DDPMPreset(**kw)
    ema = make_ema(build_model(p, c["size"], c["n_classes"], c.get("channels", 1)), p.ema_decay)
    ema.load_state_dict(ck["modules"]["ema"])
    model = ema.module.to(device).to(memory_format=memory_format(p.layout, device)).eval()
    return TrainedDDPM(model, Schedule.make(p.schedule, p.T), p, c["size"], run_dir)


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
