"""Trained generators back from their run folders, and images drawn from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from helpers.data.preprocess import images_uint8
from helpers.errors import CheckpointError
from helpers.gan.core import build_nets, generate
from helpers.gan.presets import GanPreset
from helpers.train.checkpoint import load_checkpoint
from helpers.train.loop import CHECKPOINT


def load_generator(run_dir: str | Path, device: str = "cpu", ema: bool = True) -> torch.nn.Module:
    """The generator of a finished (or partly trained) run, rebuilt from the settings saved in
    its checkpoint; the EMA copy when the run kept one (and `ema`)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}; train this generator first "
                              "(`python -m helpers train <gan> ...` or helpers.gan.pipeline.train).")
    ck, _ = load_checkpoint(path)
    conf = ck["config"]
    preset = GanPreset(**{k: v for k, v in conf.items() if k in GanPreset.__dataclass_fields__})
    G, _ = build_nets(preset, conf["size"], conf.get("n_classes", 0), conf.get("channels", 1))
    name = "generator_ema" if ema and "generator_ema" in ck["modules"] else "generator"
    G.load_state_dict(ck["modules"][name])
    G.step = int(ck["step"])  # for labels in figures
    return G.to(device).to(memory_format=torch.channels_last).eval()  # as it was trained


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
