"""The DDPM's training run, objective and training step, as written in notebook 06.

`diffusion_loss` is the loss of section 2 of notebook 06 (one Monte-Carlo estimate on a batch:
a random step per image, noise, label dropout for guidance, optional class and Min-SNR
weights); `ddpm_train_step` is one optimizer step of a `DDPMRun` (below). The
notebook passes its own copy to the trainer, so a change there trains the model shown; these
copies run when no step is given. tests/test_notebook_steps.py fails when the notebook and
this file differ; `python -m helpers export` copies the notebook's cell here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from helpers.ddpm.diffusion import Schedule, min_snr_weight, q_sample, target
from helpers.ddpm.presets import DDPMPreset
from helpers.train.precision import autocast

__all__ = ["DDPMRun", "autocast", "min_snr_weight", "q_sample", "target", "torch"]


@dataclass
class DDPMRun:
    """What one training run holds, so that a step is a plain function of it: the model, its
    moving average (what we sample from), optimizer, schedule and data (on the device), and the
    one torch.Generator all its randomness comes from."""

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


# ---- exported from the notebooks: edit the cells there, then `python -m helpers export` ----

# from notebooks/06_ddpm.ipynb
def diffusion_loss(model, x0, y, sched, generator, objective="eps", weights=None, p_uncond=0.1, min_snr=0.0):
    """One Monte-Carlo estimate of the training loss on a batch of clean images x0 with labels y."""
    B, dev = x0.shape[0], x0.device
    t = torch.randint(0, sched.T, (B,), generator=generator, device=dev)  # a random step per image
    noise = torch.randn(x0.shape, generator=generator, device=dev)
    drop = torch.rand(B, generator=generator, device=dev) < p_uncond  # label dropout, for guidance
    y = torch.where(drop, torch.full_like(y, model.null_class), y)
    out = model(q_sample(x0, t, noise, sched), t, y)
    per_image = (out.float() - target(x0, noise, t, sched, objective)).square().mean(dim=(1, 2, 3))
    if weights is not None:  # class weights, one per image
        per_image = per_image * weights
    if min_snr:  # Min-SNR-gamma: cap the weight of the nearly clean steps
        per_image = per_image * min_snr_weight(t, sched, min_snr, objective)
    return per_image.mean()


def ddpm_train_step(run: DDPMRun, i: int) -> dict:
    """One optimizer step on one batch (i counts the steps from 1)."""
    p, model, opt = run.preset, run.model, run.opt
    model.train()
    for group in opt.param_groups:  # linear warm-up, a function of the step (so resuming is exact)
        group["lr"] = p.lr * min(1.0, i / max(1, p.warmup))
    if p.balance == "sampling":  # every class drawn equally often
        idx = torch.multinomial(run.draw_p, p.batch, replacement=True, generator=run.gen)
    else:
        idx = torch.randint(0, len(run.x), (p.batch,), generator=run.gen, device=run.device)
    w = run.class_weights[run.y[idx]] if p.balance == "weights" else None
    with autocast(run.device):
        loss = diffusion_loss(model, run.x[idx], run.y[idx], run.sched, run.gen, p.objective, w, p.p_uncond,
                              p.min_snr)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
    opt.step()
    run.ema.update_parameters(model)  # the moving average the samples come from
    return {"loss": loss.detach(), "grad_norm": gn, "lr": opt.param_groups[0]["lr"]}  # tensors: no wait
