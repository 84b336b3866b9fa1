"""The random streams a checkpoint holds, and how they come back, on the same device or another.

What is bit-exact (the course's guarantee, tested on the CPU):
- on one device, a resumed run ends with the same weights as an uninterrupted one: the run's
  own generators, torch's global CPU generator and, when CUDA is there, every GPU's global
  generator (dropout of a model without a generator of its own draws from it) are checkpointed
  and restored. On a GPU this holds as far as the kernels themselves are deterministic: cuDNN
  and atomics-based kernels (the backward of some convolutions, index_add) may round
  differently from run to run, resumed or not, unless `torch.use_deterministic_algorithms`;
- a run resumed on another kind of device (a GPU run continued on a CPU) goes on from the
  checkpoint's weights and optimizer states, but a generator's state belongs to its device
  (a CPU state is 5,056 bytes of Mersenne twister, a CUDA one a Philox seed and offset): such a
  stream is re-seeded from a hash of the saved state, so the continuation is deterministic
  (the same checkpoint resumed twice gives the same run) but not the numbers the first device
  would have drawn. The same seed also draws other numbers on a GPU than on a CPU, so a
  run trained on a GPU is never bit-identical to one trained on a CPU.
"""

from __future__ import annotations

import hashlib

import torch


def device_type(generator: torch.Generator) -> str:
    return torch.device(generator.device).type


def cuda_states() -> list[torch.Tensor] | None:
    """Every GPU's global generator state, or None without CUDA."""
    return torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None


def restore_cuda_states(states) -> bool:
    """Put saved GPU generator states back; False (nothing restored) without CUDA or when the
    checkpoint saw another number of GPUs."""
    if states is None or not torch.cuda.is_available() or len(states) != torch.cuda.device_count():
        return False
    torch.cuda.set_rng_state_all(states)
    return True


def reseed_from(state: torch.Tensor) -> int:
    """A seed derived from a saved generator state: the same state gives the same seed."""
    return int.from_bytes(hashlib.sha256(state.cpu().numpy().tobytes()).digest()[:8], "little")


def restore_generator(generator: torch.Generator, state: torch.Tensor, saved_on: str | None) -> bool:
    """Set `generator` to `state`; True if restored exactly. A state from another kind of device
    (`saved_on`, or one this generator refuses) re-seeds it from the state instead (False)."""
    if saved_on is None or saved_on == device_type(generator):
        try:
            generator.set_state(state)
            return True
        except RuntimeError:  # a checkpoint from before the device was recorded, written elsewhere
            pass
    generator.manual_seed(reseed_from(state))
    return False


def restore_streams(ck: dict, generators: dict[str, torch.Generator], global_rng: bool) -> str | None:
    """Put a checkpoint's random streams back: the run's generators ({"rng": the main one, other
    name: generator}) and, with `global_rng`, torch's global CPU and GPU ones. Returns None when
    all came back exactly, else the device the checkpoint was written on (streams re-seeded)."""
    saved_on, states = ck.get("rng_devices", {}), {"rng": ck["rng"], **ck.get("rngs", {})}
    moved = [k for k, g in generators.items() if k in states and not restore_generator(g, states[k], saved_on.get(k))]
    if global_rng and "torch_rng" in ck:
        torch.set_rng_state(ck["torch_rng"])
        restore_cuda_states(ck.get("cuda_rng"))
    if not moved:
        return None
    return ck.get("config", {}).get("device") or saved_on.get(moved[0]) or "another device"


def device_label(device: str | torch.device) -> str:
    """The device a run trains on, as its settings record it: 'cpu', or 'cuda:0 (the GPU's name)'."""
    d = torch.device(device)
    if d.type == "cuda" and torch.cuda.is_available():
        index = d.index if d.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(d)
