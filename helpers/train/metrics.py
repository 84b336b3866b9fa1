"""A step's logged values, read back from the device without stopping it at every step.

A training step may return its metrics as 0-d tensors (a loss, a gradient norm) instead of
floats: `float(t)` of a tensor on a GPU waits until the GPU has finished everything queued so
far, and a step that did so for each of its metrics would never let the CPU run ahead to
queue the next step. The Trainer keeps the tensors and turns a whole interval of rows into
floats here, with one copy per device: the same numbers, exactly (float32 and bf16 values are
exact in float64, the type the copy uses).
"""

from __future__ import annotations

import torch


def has_tensors(row: dict) -> bool:
    return any(isinstance(v, torch.Tensor) for v in row.values())


def to_floats(rows: list[dict]) -> list[dict]:
    """The rows with every tensor value replaced by its float (one device-to-host copy per
    device for all of them); other values are kept as they are."""
    where: dict[torch.device, list[tuple[int, str, torch.Tensor]]] = {}
    for i, row in enumerate(rows):
        for k, v in row.items():
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    raise ValueError(f"A training step's metric '{k}' must be one number; got a tensor of "
                                     f"shape {tuple(v.shape)}.")
                where.setdefault(v.device, []).append((i, k, v))
    out = [dict(row) for row in rows]
    for items in where.values():
        values = torch.stack([v.detach().reshape(()).to(torch.float64) for _, _, v in items]).cpu().tolist()
        for (i, k, _), value in zip(items, values):
            out[i][k] = value
    return out
