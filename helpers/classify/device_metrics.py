"""Loss and metric averages that stay on the GPU during an epoch.

fastai's own (`AvgSmoothLoss`, `AvgLoss`, `AvgMetric`) copy every batch's loss to the CPU
(`to_detach`), and each copy makes the host wait until the GPU has finished that batch: a small
model at 128 px then spends its time waiting for Python instead of queueing the next batch.
These keep the same running sums on the device; the Recorder reads them once, at the epoch's
end (`.item()`). The maths is fastai's, line for line.
"""

from __future__ import annotations

import torch
from fastai.learner import AvgLoss, AvgMetric, AvgSmoothLoss
from fastai.torch_core import find_bs


class DeviceSmoothLoss(AvgSmoothLoss):
    """Exponentially weighted training loss (debiased), as fastai's, kept on the device."""

    def accumulate(self, learn):
        self.count += 1
        loss = learn.loss.detach().float().mean()
        self.val = torch.lerp(loss, self.val.to(loss.device, non_blocking=True), self.beta)


class DeviceAvgLoss(AvgLoss):
    """Validation loss averaged over images, kept on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total = self.total + learn.loss.detach().float().mean() * bs
        self.count += bs


class DeviceAvgMetric(AvgMetric):
    """A batch-averaged metric (accuracy), kept on the device."""

    def accumulate(self, learn):
        bs = find_bs(learn.yb)
        self.total = self.total + self.func(learn.pred, *learn.yb).detach().float() * bs
        self.count += bs


def keep_on_device(learn):
    """Swap a Learner's loss and metric averages for the on-device ones (for CUDA)."""
    rec = learn.recorder
    rec.smooth_loss = DeviceSmoothLoss(beta=rec.smooth_loss.beta)
    rec.loss = DeviceAvgLoss()
    learn.metrics = [DeviceAvgMetric(m.func) if type(m) is AvgMetric else m for m in learn.metrics]
    return learn
