"""The arithmetic a training step runs in on each device."""

from __future__ import annotations

import contextlib

import torch


def autocast(device: str):
    """bf16 autocast on CUDA (fast on tensor cores, no loss scaling needed); nothing elsewhere."""
    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
