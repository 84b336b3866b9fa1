"""What one DDPM training run holds, so that a training step is a plain function of it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from helpers.ddpm.presets import DDPMPreset
from helpers.ddpm.schedules import Schedule


@dataclass
class DDPMRun:
    """A run's model, its moving average (what we sample from), optimizer, schedule and data
    (on the device), and the one torch.Generator all its randomness comes from."""

    preset: DDPMPreset
    model: torch.nn.Module
    ema: torch.nn.Module            # torch.optim.swa_utils.AveragedModel of `model`
    opt: torch.optim.Optimizer
    sched: Schedule
    x: torch.Tensor                 # (N, C, H, W) in [-1, 1], C = 1 (grey) or 3 (RGB)
    y: torch.Tensor                 # (N,) class ids
    class_weights: torch.Tensor     # one per class (balance="weights")
    draw_p: torch.Tensor            # one per image (balance="sampling")
    gen: torch.Generator
    device: str = "cpu"
