"""`torch.compile` of a training run's networks, as an opt-in setting (`compile`, off by default).

A compiled network runs the same arithmetic with fewer kernel launches (inductor fuses the
element-wise work); it pays where a step is bound by launches (small networks on a GPU) and
costs a compilation first (tens of seconds; on a CPU it rarely pays, hence off by default; the
GPU check measures it). The forward is compiled in place (`nn.Module.compile`), so the
state_dict, and with it every checkpoint, is the same as an eager network's. torch's compiler
caches what it compiled per process: the next network of the same class and shapes (the next
run of a grid) reuses it instead of compiling again. Results agree with the eager network to
float rounding, not bit for bit (fused kernels round differently; "aot_eager" runs torch's
eager kernels through the same machinery and is how the tests check it on a CPU).
"""

from __future__ import annotations

from torch import nn

COMPILE = ("off", "inductor", "aot_eager")  # what the presets' `compile` setting accepts


def compile_module(module: nn.Module, how: str = "off") -> nn.Module:
    """Compile `module`'s forward in place with backend `how` (nothing when "off")."""
    if how not in COMPILE:
        raise ValueError(f"compile must be one of {', '.join(COMPILE)}; got {how!r}")
    if how != "off":
        module.compile(backend=how)
    return module
