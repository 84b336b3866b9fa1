"""Train the class-conditional flow-matching model on a training split and export a balanced set.

`run` is what `helpers.generators` calls for "flow" (and so `python -m helpers train flow`).
Everything but the objective and the sampler is the DDPM's (helpers.ddpm.pipeline): one model
for all classes in `RUNS/generators/<out_name>/all/`, the same U-Net, class balance, EMA
weights and `helpers.train.loop.Trainer` (checkpoints, resume, history, fixed-noise grids,
divergence guard). A finished run is loaded, not retrained, and a synthetic set already
exported from the same checkpoint is kept as it is. All randomness (batch indices, t, noise,
label dropout) comes from one torch.Generator that the Trainer checkpoints, so a resumed run on
CPU ends with bit-identical weights. The step is notebook 06c's (helpers.flow.steps);
`train_flow(..., step=...)` trains with another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.config import plain_name
from helpers.data.preprocess import channels_config, load_images
from helpers.data.records import DataError, validate_records
from helpers.ddpm.ema import make_ema
from helpers.ddpm.pipeline import _as_tensor, build_model, class_weights, label_batch
from helpers.ddpm.pipeline import export as export_set
from helpers.ddpm.unet import memory_format
from helpers.errors import CheckpointError, SettingError
from helpers.flow.presets import FlowPreset, preset
from helpers.flow.sampling import sample
from helpers.flow.steps import FlowRun, flow_train_step
from helpers.train.checkpoint import load_checkpoint, step_config
from helpers.train.compiled import compile_module
from helpers.train.loop import CHECKPOINT, History, Trainer
from helpers.train.rng import device_label

GENERATOR = "flow"


@dataclass
class TrainedFlow:
    """A trained model: the EMA network to sample from and its settings."""

    model: torch.nn.Module  # EMA weights, eval mode
    preset: FlowPreset
    size: int
    run_dir: Path
    history: History | None = None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    def generate(self, label, n: int, seed: int = 0, method: str | None = None, nfe: int | None = None,
                 guidance: float | None = None, batch: int | None = None) -> torch.Tensor:
        """n images of class `label` in [-1, 1] (on CPU), deterministic given the seed and the kind of
        device; the preset's sampler, NFE and guidance unless given. `label` a sequence of classes:
        one image each (n is then ignored)."""
        p = self.preset
        dev = next(self.model.parameters()).device
        g = torch.Generator(device=dev).manual_seed(int(seed))
        labels = label_batch(label, n, dev)
        out, batch = [], batch or p.export_batch
        for i in range(0, len(labels), batch):
            y = labels[i:i + batch]
            out.append(sample(self.model, y, self.size, nfe=nfe or p.nfe, method=method or p.sampler,
                              guidance=p.guidance if guidance is None else guidance, generator=g).cpu())
        return torch.cat(out) if out else torch.empty(0, self.model.in_ch, self.size, self.size)


def train_flow(images, labels, run_dir: str | Path, preset: FlowPreset, n_classes: int, device: str = "cpu",
               seed: int = 0, progress: bool = True, class_names: list[str] | None = None,
               step=None) -> TrainedFlow:
    """Train (or resume, or just load when finished) a class-conditional flow-matching model.

    images: uint8 (N, H, W) / (N, H, W, 3) or float in [-1, 1]; labels: ints 0..n_classes-1. `step(run, i) ->
    dict` is the training step (default: helpers.flow.steps.flow_train_step, notebook 06c's).
    Returns the EMA model ready for sampling, with the History of the run."""
    p = preset
    x = _as_tensor(images)
    y = torch.tensor(np.array(labels), dtype=torch.long)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as images (got {len(x)} images, {len(y)} labels)")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"images must be square, got {tuple(x.shape[-2:])}")
    size = x.shape[-1]
    torch.manual_seed(seed)  # the initial weights
    model = build_model(p, size, n_classes, channels=x.shape[1]).to(device)
    layout = memory_format(p.layout, device)
    model, x = model.to(memory_format=layout), x.to(memory_format=layout)
    ema = make_ema(model, p.ema_decay)
    ema.eval()
    compile_module(model, p.compile)  # after the EMA's copy: only the trained network is compiled
    x, y = x.to(device), y.to(device)  # the whole (small) data set lives on the device
    weights = class_weights(y, n_classes).to(device)
    draw_p = (1.0 / torch.bincount(y, minlength=n_classes).clamp(min=1).float())[y]  # balanced sampling
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.0)
    gen = torch.Generator(device=device).manual_seed(seed)
    names = class_names or [str(i) for i in range(n_classes)]
    run = FlowRun(p, model, ema, opt, x, y, weights, draw_p, gen, device)
    step = step or flow_train_step
    labels_grid = torch.arange(n_classes, device=device).repeat_interleave(p.grid_per_class)

    def grid(i: int):  # fixed noise (its own generator), one row per class, from the EMA weights
        g = torch.Generator(device=device).manual_seed(seed + 1_000_003)
        return sample(ema.module, labels_grid, size, nfe=p.nfe, method=p.sampler, guidance=p.guidance, generator=g)

    config = dict(p.as_dict(), size=size, n_classes=n_classes, class_names=names, n_images=len(x), seed=seed,
                  total_steps=p.steps, **channels_config(x.shape[1]), **step_config(step, flow_train_step),
                  device=device_label(device))
    trainer = Trainer(run_dir, p.steps, modules={"model": model, "ema": ema}, optimizers={"opt": opt},
                      generator=gen, checkpoint_every=p.checkpoint_every, sample_every=p.sample_every,
                      sample_fn=grid, config=config, desc="flow", progress=progress, nrow=p.grid_per_class,
                      diverge_hint="try a lower learning rate (lr), a longer warm-up or a smaller grad_clip")
    history = trainer.run(lambda i: step(run, i))  # the Trainer holds the run folder's lock
    ema.eval()
    return TrainedFlow(ema.module, p, size, Path(run_dir), history)


def load_trained(run_dir: str | Path, device: str = "cpu") -> TrainedFlow:
    """The EMA model of a finished (or interrupted) run, rebuilt from its checkpoint."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"No flow-matching checkpoint at {path}; train one first "
                              "(`python -m helpers train flow ...` or helpers.flow.pipeline.run).")
    ck, _ = load_checkpoint(path)
    c = ck["config"]
    known = {f for f in FlowPreset.__dataclass_fields__}
    kw = {k: v for k, v in c.items() if k in known}
    kw["mults"] = tuple(kw["mults"])
    kw["attn_levels"] = None if kw.get("attn_levels") is None else tuple(kw["attn_levels"])
    p = FlowPreset(**kw)
    ema = make_ema(build_model(p, c["size"], c["n_classes"], c.get("channels", 1)), p.ema_decay)
    ema.load_state_dict(ck["modules"]["ema"])
    model = ema.module.to(device).to(memory_format=memory_format(p.layout, device)).eval()
    return TrainedFlow(model, p, c["size"], run_dir)


def run_dir(cfg, out_name: str = GENERATOR) -> Path:
    return cfg.runs_dir / "generators" / plain_name(out_name, "run name") / "all"


def train(cfg, train_records: pd.DataFrame, out_name: str = GENERATOR, steps: int | None = None,
          progress: bool = True, step=None, **overrides) -> TrainedFlow:
    """Train (or resume / load) the flow-matching model of this profile on `train_records`;
    `step(run, i)` is the training step (default: notebook 06c's, helpers.flow.steps.flow_train_step)."""
    if len(train_records) == 0:
        raise DataError("No training images were given to flow matching; check the split in RUNS/data/records.csv.")
    validate_records(train_records, "the training records", classes=cfg.classes)
    names = cfg.classes
    p = preset(cfg.profile, steps=steps, **overrides)
    images = load_images(train_records, cfg.size, cfg.cache_dir, progress=progress)
    return train_flow(images, train_records["label"].to_numpy(), run_dir(cfg, out_name), p, len(names),
                      device=cfg.device, seed=cfg.seed, progress=progress, class_names=names, step=step)


def export(trained: TrainedFlow, cfg, train_records: pd.DataFrame, out_name: str = GENERATOR,
           progress: bool = True) -> Path:
    """Write the class-balanced synthetic set (the preset's sampler, NFE and guidance): the DDPM's
    export, which needs only `generate`, `checkpoint` and the preset's `export_batch`."""
    return export_set(trained, cfg, train_records, out_name, progress=progress)


def run(name: str, cfg, train_records: pd.DataFrame, out_name: str | None = None, steps: int | None = None,
        progress: bool = True, step=None, **overrides) -> Path:
    """Train on `train_records` only, then export; returns the manifest path.
    `overrides` change preset settings (e.g. nfe=8); give them their own out_name."""
    if name != GENERATOR:
        raise SettingError(f"helpers.flow.pipeline trains {GENERATOR!r}, not {name!r}")
    out_name = out_name or name
    trained = train(cfg, train_records, out_name, steps=steps, progress=progress, step=step, **overrides)
    return export(trained, cfg, train_records, out_name, progress=progress)
