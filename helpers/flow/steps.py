"""Flow matching's training run, loss and training step, as written in notebook 06c.

`flow_matching_loss` is the loss of notebook 06c (one Monte-Carlo estimate on a batch: a
uniform random time per image, noise, label dropout for guidance, optional class weights);
`flow_train_step` is one optimizer step of a `FlowRun` (below), the DDPM's step with this
loss. The notebook passes its own copy to the trainer, so a change there trains the model
shown; these copies run when no step is given. tests/test_notebook_steps.py fails when the
notebook and this file differ; `python -m helpers export` copies the notebook's cell here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from helpers.flow.objective import interpolate, net_time, velocity_target
from helpers.flow.presets import FlowPreset
from helpers.train.precision import autocast

__all__ = ["FlowRun", "autocast", "interpolate", "net_time", "torch", "velocity_target"]


@dataclass
class FlowRun:
    """What one training run holds, so that a step is a plain function of it: the model, its
    moving average (what we sample from), optimizer and data (on the device), and the one
    torch.Generator all its randomness comes from."""

    preset: FlowPreset
    model: torch.nn.Module
    ema: torch.nn.Module            # helpers.ddpm.ema.WarmupEMA of `model`
    opt: torch.optim.Optimizer
    x: torch.Tensor                 # (N, C, H, W) in [-1, 1], C = 1 (grey) or 3 (RGB)
    y: torch.Tensor                 # (N,) class ids
    class_weights: torch.Tensor     # one per class (balance="weights")
    draw_p: torch.Tensor            # one per image (balance="sampling")
    gen: torch.Generator
    device: str = "cpu"


# ---- exported from the notebooks: edit the cells there, then `python -m helpers export` ----

# from notebooks/06c_flow_matching.ipynb
def flow_matching_loss(model, x1, y, generator, weights=None, p_uncond=0.1):
    """One Monte-Carlo estimate of the flow-matching loss on a batch of images x1 with labels y."""
    B, dev = x1.shape[0], x1.device
    t = torch.rand(B, generator=generator, device=dev)  # a time in [0, 1) per image
    x0 = torch.randn(x1.shape, generator=generator, device=dev)  # the noise end of each path
    drop = torch.rand(B, generator=generator, device=dev) < p_uncond  # label dropout, for guidance
    y = torch.where(drop, torch.full_like(y, model.null_class), y)
    out = model(interpolate(x0, x1, t), net_time(t), y)
    per_image = (out.float() - velocity_target(x0, x1)).square().mean(dim=(1, 2, 3))
    if weights is not None:  # class weights, one per image
        per_image = per_image * weights
    return per_image.mean()


def flow_train_step(run: FlowRun, i: int) -> dict:
    """One optimizer step on one batch (i counts the steps from 1): the DDPM's step, another loss."""
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
        loss = flow_matching_loss(model, run.x[idx], run.y[idx], run.gen, w, p.p_uncond)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
    opt.step()
    run.ema.update_parameters(model)  # the moving average the samples come from
    return {"loss": loss.detach(), "grad_norm": gn, "lr": opt.param_groups[0]["lr"]}  # tensors: no wait
