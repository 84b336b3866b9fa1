"""fastai's Adam, one step for all parameter tensors at once.

fastai's `Optimizer` runs its step callbacks (weight decay, the two moving averages, the step
count, the Adam update) in Python for every parameter tensor: about 600 tensors in DenseNet201,
each several small kernels, which on a GPU costs more in launches than the update itself.
`ForeachAdam` does the same arithmetic with torch's multi-tensor (`torch._foreach_*`) operations,
a few launches per step for all tensors of a parameter group. Everything else is fastai's: its
hyper-parameters (lr and mom scheduled by fit_one_cycle, sqr_mom, eps, wd), its decoupled weight
decay skipped for batch-norm and bias tensors (the Learner's `wd_bn_bias=False`), its debiasing
with the current momentum, and its state (grad_avg, sqr_avg, step per tensor), so a checkpoint of
one optimizer loads into the other. On the CPU the numbers are bit-identical to fastai's Adam
(tests/test_classifier_gpu_path.py); torch's own AdamW is not: it debiases with the running
product of past momenta and adds eps in another order.
"""

from __future__ import annotations

import torch

from helpers.classify import fastai_quiet  # noqa: F401  (before fastai, whose import warns)

# isort: split
from fastai.optimizer import Adam, Optimizer, debias

from helpers.errors import SettingError

OPTIMIZERS = ("foreach", "fastai")


class ForeachAdam(Optimizer):
    """fastai's `Adam(decouple_wd=True)` with multi-tensor steps (see the module's note)."""

    def __init__(self, params, lr, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5, wd: float = 0.01):
        super().__init__(params, [], lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)

    @torch.no_grad()
    def zero_grad(self):
        grads = [p.grad for pg in self.param_lists for p in pg if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise NotImplementedError("fastai optimizers do not support closure")
        for pg, hyper in zip(self.param_lists, self.hypers):
            buckets: dict = {}  # tensors that share a step count and a weight-decay switch
            for p in pg:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "grad_avg" not in state:
                    state["grad_avg"] = torch.zeros_like(p.grad)
                    state["sqr_avg"] = torch.zeros_like(p.grad)
                key = (state.get("step", 0), bool(state.get("do_wd", True)))
                buckets.setdefault(key, []).append((p, state))
            for (step, do_wd), items in buckets.items():
                self._update([p for p, _ in items], [s for _, s in items], step + 1, do_wd, **hyper)

    @staticmethod
    def _update(params, states, step, do_wd, lr, mom, sqr_mom, eps, wd, **_):
        grads = [p.grad for p in params]
        avgs, sqrs = [s["grad_avg"] for s in states], [s["sqr_avg"] for s in states]
        if do_wd and wd != 0:  # fastai's weight_decay
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_mul_(avgs, mom)  # average_grad (dampened)
        torch._foreach_add_(avgs, grads, alpha=1 - mom)
        torch._foreach_mul_(sqrs, sqr_mom)  # average_sqr_grad
        torch._foreach_addcmul_(sqrs, grads, grads, value=1 - sqr_mom)
        for s in states:  # step_stat
            s["step"] = step
        denom = torch._foreach_div(sqrs, debias(sqr_mom, 1 - sqr_mom, step))  # adam_step
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, avgs, denom, value=-lr / debias(mom, 1 - mom, step))


def adam(name: str = "foreach"):
    """The classifiers' optimizer function for a Learner: "foreach" (ForeachAdam) or "fastai"
    (fastai's Adam, one tensor at a time); the same numbers either way."""
    if name not in OPTIMIZERS:
        raise SettingError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")
    return ForeachAdam if name == "foreach" else Adam
