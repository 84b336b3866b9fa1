"""The DDPM's moving average of its weights (what the samples come from).

`torch.optim.swa_utils.AveragedModel` with the usual warm-up: after n updates the decay is
min(decay, (1 + n) / (10 + n)), so in a run of a few hundred steps the average does not lag far
behind the model (with a fixed 0.995 it would still weigh the first steps). The update is torch's
EMA (`get_ema_multi_avg_fn`, one foreach lerp per device and dtype), but the count n is read on
the CPU, where AveragedModel keeps it: torch's own update copies it to the model's device and a
warm-up decay computed from that copy would make every training step wait for the GPU.
Checkpoints are those of AveragedModel (`module.*` and `n_averaged`).
"""

from __future__ import annotations

import itertools

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def warmup_decay(decay: float, n: int) -> float:
    return min(decay, (1 + float(n)) / (10 + float(n)))


class WarmupEMA(AveragedModel):
    """AveragedModel(model, use_buffers=True) with the warm-up decay, updated without waiting for
    the device (keep `n_averaged` on the CPU: move `.module`, not this wrapper, to a device)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        super().__init__(model, use_buffers=True)
        self.decay = float(decay)

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        n = int(self.n_averaged)  # on the CPU: no wait
        ema = [p.detach() for p in itertools.chain(self.module.parameters(), self.module.buffers())]
        new = [p.detach().to(q.device, non_blocking=True)
               for p, q in zip(itertools.chain(model.parameters(), model.buffers()), ema)]
        if n == 0:
            for q, p in zip(ema, new):
                q.copy_(p)
        else:
            groups: dict[tuple, tuple[list, list]] = {}
            for q, p in zip(ema, new):
                a, b = groups.setdefault((q.device, q.dtype), ([], []))
                a.append(q)
                b.append(p)
            update = get_ema_multi_avg_fn(warmup_decay(self.decay, n))
            for a, b in groups.values():
                update(a, b, n)
        self.n_averaged += 1


def make_ema(model: torch.nn.Module, decay: float) -> WarmupEMA:
    return WarmupEMA(model, decay)
