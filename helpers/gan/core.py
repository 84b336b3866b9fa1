"""What the GAN loops share: data on the device, networks and optimizers from a preset,
batches and noise drawn from the one checkpointed random generator, fixed-noise samples,
generator EMA, and the Trainer that makes every run resumable; and trained generators back
from their run folders, with images drawn from them."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.data.preprocess import channels_config, images_uint8, to_nchw
from helpers.errors import CheckpointError, DataError, SettingError
from helpers.gan.augment import diff_augment
from helpers.gan.nets import Critic, Generator, check_size
from helpers.gan.presets import GanPreset
from helpers.train.checkpoint import load_checkpoint
from helpers.train.compiled import compile_module
from helpers.train.loop import CHECKPOINT, Trainer
from helpers.train.rng import device_label

N_FIXED = 32  # images in each fixed-noise grid (unconditional)


def as_images(data) -> torch.Tensor:
    """uint8 (N, H, W) grey or (N, H, W, 3) RGB in [0, 255], or float (N, H, W) / (N, C, H, W)
    in [-1, 1] -> float32 (N, C, H, W), C = 1 or 3."""
    if isinstance(data, np.ndarray):
        t = to_nchw(data) if data.dtype == np.uint8 else torch.from_numpy(np.asarray(data, np.float32))
    elif isinstance(data, torch.Tensor):
        t = to_nchw(data) if data.dtype == torch.uint8 else data.float()
    else:
        raise TypeError(f"GAN training data must be a numpy array or tensor of images; got {type(data).__name__}.")
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] not in (1, 3) or t.shape[2] != t.shape[3]:
        raise ValueError(f"GAN training data must be square grey (N, H, W) or RGB (N, H, W, 3) images; got shape "
                         f"{tuple(t.shape)}.")
    if len(t) == 0:
        raise DataError("GAN training data is empty: this class has no training images.")
    check_size(t.shape[-1])
    return t.contiguous()


def fingerprint(x: torch.Tensor) -> str:
    """A short hash of the training images, so a run folder is never resumed on other data."""
    return hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest()[:16]


def to_device(x: torch.Tensor, device: str) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    # NHWC on every device: tensor cores want it, and the CPU's convolution kernels run the
    # course's GANs 8-10 % faster with it (measured on the quick presets)
    return x.contiguous(memory_format=torch.channels_last)


def build_nets(preset: GanPreset, size: int, n_classes: int = 0, channels: int = 1) -> tuple[Generator, Critic]:
    g = Generator(size, preset.latent, preset.g_width, n_classes, preset.embed_dim, preset.upsample, channels,
                  preset.cond_norm)
    d = Critic(size, preset.d_width, preset.critic_norm, preset.dropout, n_classes, channels)
    return g, d


def make_optimizer(params, preset: GanPreset, lr: float) -> torch.optim.Optimizer:
    if preset.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if preset.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(preset.betas))
    raise SettingError(f"Unknown optimizer {preset.optimizer!r}; use 'adam' or 'rmsprop'.")


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1.0 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The norm of all the module's gradients together, as a 0-d tensor on their device (no wait
    for the device; the Trainer reads the logged values back in one go)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


@dataclass
class GanRun:
    """One GAN being trained: its data on the device, networks, optimizers, random stream."""

    preset: GanPreset
    x: torch.Tensor                 # (N, C, H, W) on device, C = 1 (grey) or 3 (RGB)
    labels: torch.Tensor | None     # (N,) on device (conditional) or None
    G: Generator
    D: Critic
    G_ema: Generator | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gen: torch.Generator            # CPU; everything random in training is drawn from it
    device: str
    n_classes: int = 0
    class_starts: torch.Tensor | None = None
    class_counts: torch.Tensor | None = None
    dropout_gen: torch.Generator | None = None  # on the device; the critic's dropout masks

    # -- random draws (all from `gen`, so a resumed run draws the same numbers; on the CPU, so a
    # run draws the same numbers on every device; copied without waiting for the device) --
    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.preset.latent, generator=self.gen).to(self.device, non_blocking=True)

    def batch(self, n: int):
        """n real images (and their labels): uniform over images, or over classes first when
        conditional (class-balanced batches)."""
        if self.labels is None:
            idx = torch.randint(len(self.x), (n,), generator=self.gen)
            return self.x[idx.to(self.device, non_blocking=True)], None
        y = torch.randint(self.n_classes, (n,), generator=self.gen)
        u = torch.rand(n, generator=self.gen)
        idx = self.class_starts[y] + (u * self.class_counts[y]).long().clamp_max(self.class_counts[y] - 1)
        return self.x[idx.to(self.device, non_blocking=True)], y.to(self.device, non_blocking=True)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """What the critic sees of a batch, real or generated: the preset's DiffAugment
        transformations (helpers.gan.augment), drawn from the run's generator; x itself when off."""
        return diff_augment(x, self.preset.diffaug, self.gen) if self.preset.diffaug else x

    def sampler(self) -> Generator:
        return self.G_ema if self.G_ema is not None else self.G

    def after_generator_step(self) -> None:
        if self.G_ema is not None:
            ema_update(self.G_ema, self.G, self.preset.ema)

    def fixed_sample_fn(self, seed: int):
        """sample_fn for the Trainer: the same noise every time, eval mode, models left as found."""
        g = torch.Generator().manual_seed(seed + 7919)
        if self.n_classes:
            per = 8
            labels = torch.arange(self.n_classes).repeat_interleave(per)
            z = torch.randn(len(labels), self.preset.latent, generator=g)
        else:
            labels, z = None, torch.randn(N_FIXED, self.preset.latent, generator=g)

        def sample_fn(step: int) -> torch.Tensor:
            return generate(self.sampler(), z, labels, self.device)

        return sample_fn


@torch.no_grad()
def generate(G: Generator, z: torch.Tensor, labels: torch.Tensor | None = None, device: str = "cpu",
             batch: int = 256) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W) on CPU from noise `z`, in eval mode; restores the mode."""
    was_training = G.training
    G.eval()
    out = []
    try:
        for i in range(0, len(z), batch):
            zi = z[i:i + batch].to(device)
            yi = labels[i:i + batch].to(device) if labels is not None else None
            out.append(G(zi, yi).float().cpu())
    finally:
        G.train(was_training)
    return torch.cat(out)


def make_run(preset: GanPreset, data, seed: int, device: str, labels=None, n_classes: int = 0) -> GanRun:
    """Set up a run: data on the device, networks initialised from `seed`, optimizers.
    The initialisation draws from torch's global generator: call this in the thread that
    starts the trainings (helpers.parallel prepares jobs there), never in two threads at once.
    Everything random in training comes from the run's own generators."""
    x = as_images(data)
    size = x.shape[-1]
    class_starts = class_counts = None
    y = None
    if labels is not None:
        y = torch.tensor(np.array(labels), dtype=torch.long)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} images but {len(y)} labels.")
        n_classes = n_classes or int(y.max()) + 1
        order = torch.sort(y, stable=True).indices  # group images by class for balanced draws
        x, y = x[order], y[order]
        class_counts = torch.bincount(y, minlength=n_classes)
        if (class_counts == 0).any():
            missing = [i for i, c in enumerate(class_counts.tolist()) if c == 0]
            raise DataError(f"Class id(s) {missing} have no training images; a conditional GAN needs every class.")
        class_starts = torch.cumsum(class_counts, 0) - class_counts
    torch.manual_seed(seed)  # the network initialisation follows the seed
    G, D = build_nets(preset, size, n_classes, channels=x.shape[1])
    G, D = G.to(device), D.to(device)
    dropout_gen = None
    if preset.dropout:  # masks from a stream of the run's own, derived from its seed
        dropout_gen = torch.Generator(device=device).manual_seed(dropout_seed(seed))
        D.draw_dropout_from(dropout_gen)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)  # see to_device
    G_ema = None
    if preset.ema:
        G_ema = copy.deepcopy(G)
        set_requires_grad(G_ema, False)
    compile_module(G, preset.compile)  # after the EMA's copy; the penalty's double backward is not compiled
    if not preset.gp_weight:
        compile_module(D, preset.compile)
    return GanRun(preset=preset, x=to_device(x, device), labels=None if y is None else y.to(device), G=G, D=D,
                  G_ema=G_ema, opt_g=make_optimizer(G.parameters(), preset, preset.lr_g),
                  opt_d=make_optimizer(D.parameters(), preset, preset.lr_d),
                  gen=torch.Generator().manual_seed(seed), device=device, n_classes=n_classes,
                  class_starts=class_starts, class_counts=class_counts, dropout_gen=dropout_gen)


def dropout_seed(seed: int) -> int:
    """The dropout stream's seed: another stream than the run's (whose seed is `seed`) and than
    the other class models' (seed * 1000 + class); torch's CPU generator keeps 32 bits of it."""
    return (int(seed) * 2654435761 + 0x9E3779B9) % 2**32


def _diverge_hint(p: GanPreset) -> str:
    if p.clip:
        return "try lower learning rates (lr_g, lr_d) or a smaller clip value"
    if p.gp_weight:
        return "try lower learning rates (lr_g, lr_d) or a larger gradient-penalty weight (gp_weight)"
    return "try lower learning rates (lr_g, lr_d) or a generator EMA (ema=0.99)"


def _stall(p: GanPreset) -> dict:
    """The collapse guard's metrics: a generator without gradient, or (DCGAN) a discriminator
    whose loss is exactly 0, i.e. that wins outright, leave nothing to learn from."""
    out = {"grad_norm_g": "the generator receives no gradient at all"}
    if not (p.clip or p.gp_weight):
        out["loss_d"] = "the discriminator tells real from generated images perfectly, so the generator learns nothing"
    return out


def make_trainer(run: GanRun, run_dir: str | Path, steps: int, seed: int, desc: str, progress: bool,
                 extra_config: dict | None = None, halfway_store: Path | None = None) -> Trainer:
    modules = {"generator": run.G, "critic": run.D}
    if run.G_ema is not None:
        modules["generator_ema"] = run.G_ema
    config = dict(run.preset.as_dict(), steps=int(steps), size=int(run.x.shape[-1]), seed=int(seed),
                  n_classes=int(run.n_classes), n_images=int(len(run.x)), data=fingerprint(run.x),
                  **channels_config(run.x.shape[1]), device=device_label(run.device), **(extra_config or {}))
    return Trainer(run_dir, steps, modules, {"generator": run.opt_g, "critic": run.opt_d}, run.gen,
                   checkpoint_every=run.preset.checkpoint_every, sample_every=run.preset.sample_every,
                   sample_fn=run.fixed_sample_fn(seed), config=config, desc=desc, progress=progress,
                   nrow=8, diverge_hint=_diverge_hint(run.preset), stall=_stall(run.preset),
                   generators={"dropout": run.dropout_gen} if run.dropout_gen is not None else None,
                   global_rng=False, halfway_store=halfway_store)


def load_generator(run_dir: str | Path, device: str = "cpu", ema: bool = True) -> torch.nn.Module:
    """The generator of a finished (or partly trained) run, rebuilt from the settings saved in
    its checkpoint; the EMA copy when the run kept one (and `ema`)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}; train this generator first "
                              "(`python -m helpers train <gan> ...` or helpers.gan.pipeline.train).")
    ck, _ = load_checkpoint(path)
    name = "generator_ema" if ema and "generator_ema" in ck["modules"] else "generator"
    G = generator_from(ck["config"], ck["modules"][name], int(ck["step"]))
    return G.to(device).to(memory_format=torch.channels_last).eval()  # as it was trained


def generator_from(conf: dict, weights: dict, step: int) -> Generator:
    """The generator a run's saved config describes, with `weights` (cast to float32, so
    half-precision copies load too) and its `step` (for labels in figures)."""
    preset = GanPreset(**{k: v for k, v in conf.items() if k in GanPreset.__dataclass_fields__})
    G, _ = build_nets(preset, conf["size"], conf.get("n_classes", 0), conf.get("channels", 1))
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    G.step = step
    return G


def sample(G: torch.nn.Module, n: int, seed: int = 0, label: int | None = None, device: str = "cpu") -> torch.Tensor:
    """n images in [-1, 1] (n, C, H, W) from noise seeded by `seed` (and class `label` if conditional)."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, G.latent, generator=g)
    labels = None
    if G.n_classes:
        if label is None:
            raise ValueError("This generator is conditional: say which class (label=...).")
        labels = torch.full((n,), int(label), dtype=torch.long)
    return generate(G, z, labels, device)


def sample_uint8(G: torch.nn.Module, n: int, seed: int = 0, label: int | None = None,
                 device: str = "cpu") -> np.ndarray:
    """n images as uint8 (n, H, W), or (n, H, W, 3) for RGB: the form synthetic sets are written in."""
    return images_uint8(sample(G, n, seed, label, device))
