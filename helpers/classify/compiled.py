"""The classifiers' training forward pass through `torch.compile`, compiled once per architecture.

At batch 32 and 128 px a GPU waits on Python: each of a network's hundreds of layers is a kernel
launch or several. `compile_training(model)` makes the model's training forward (and with it the
backward) one compiled graph, while its weights, its state_dict and its evaluation stay the
model's own: the Learner, the checkpoints and the saved weights see the plain module.

Compiled once, reused by every run of the process: the compiled function is that of the model's
class, kept in `_COMPILED` by (class, backend, mode), and torch treats a module's parameters as
inputs of the graph (`inline_inbuilt_nn_modules`), so a new run's freshly built network of the
same architecture, trained on batches of the same shape, runs the graph compiled for the first
one; torch's own cache keys the graphs by the parameters' and the input's shapes. Evaluation
(no gradients, or eval mode) runs eagerly: its batch sizes vary, and it is a small part of a run.

`use_compile(setting, device)`: on a GPU by default, off on a CPU (compiling costs tens of seconds
per architecture, more than a course run on a CPU gains). Whether it pays on a GPU is measured by
`benchmarks/classifier_throughput.py --compile on,off`.
"""

from __future__ import annotations

import types

import torch
from torch import nn

_COMPILED: dict = {}  # (model class, backend, mode) -> the compiled forward of that class


def use_compile(setting: bool | str | None, device) -> bool:
    """Whether to compile: `setting` (True, False or a backend's name), or by default on a GPU only."""
    return str(device).startswith("cuda") if setting is None else bool(setting)


def _forward(self, *args, **kwargs):
    """The model's forward: compiled while it trains, its own otherwise."""
    if self.training and torch.is_grad_enabled():
        return self._compiled_forward(self, *args, **kwargs)
    return type(self).forward(self, *args, **kwargs)


def compile_training(model: nn.Module, backend: str = "inductor", mode: str | None = None) -> nn.Module:
    """`model` (in place) with its training forward compiled (see the module's note)."""
    key = (type(model), backend, mode)
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(type(model).forward, backend=backend, mode=mode, dynamic=False)
    model._compiled_forward = _COMPILED[key]
    model.forward = types.MethodType(_forward, model)
    return model
