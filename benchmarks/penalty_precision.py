"""The gradient penalty under bf16 autocast against fp32, on the same batch.

On CUDA the course trains its GANs under bf16 autocast (helpers.train.precision.autocast); the
penalty lambda * E[(||grad_x f(x_hat)|| - 1)^2] is a gradient of a gradient, the part of
WGAN-GP that bf16's 8-bit mantissa could hurt most. This computes it once in fp32 and once
under autocast bf16 (the critic's convolutions in bf16, the norms in fp32 as
helpers.gan.losses does), from the same critic, batch and alpha, and prints both and their
difference, for a critic at its initialisation and after a few training steps.

    python benchmarks/penalty_precision.py                 # CPU (its autocast supports bf16)
    python benchmarks/penalty_precision.py --device cuda --size 128 --width 64 --batch 64
"""

from __future__ import annotations

import argparse

import torch

from helpers.gan.core import build_nets, make_optimizer
from helpers.gan.losses import critic_loss, gradient_penalty
from helpers.gan.presets import get_preset


def penalties(D, real, fake, alpha, device: str) -> dict:
    """{'fp32': (penalty, mean norm), 'bf16': (...)} on the same points."""
    out = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        torch.manual_seed(0)  # the same dropout masks in both, where the critic has dropout
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled):
            gp, norm = gradient_penalty(D, real, fake, alpha=alpha, return_norm=True)
        out[name] = (float(gp.detach()), float(norm))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=int, default=None, help="critic and generator width (default: the preset's)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=20, help="critic steps before the second comparison")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    p = get_preset("wgan-gp", a.profile)
    if a.width:
        p = p.with_(g_width=a.width, d_width=a.width)
    torch.manual_seed(a.seed)
    G, D = (m.to(a.device) for m in build_nets(p, a.size))
    opt = make_optimizer(D.parameters(), p, p.lr_d)
    g = torch.Generator().manual_seed(a.seed)
    real = (torch.rand(a.batch, 1, a.size, a.size, generator=g) * 2 - 1).to(a.device)
    with torch.no_grad():
        fake = G(torch.randn(a.batch, p.latent, generator=g).to(a.device))
    alpha = torch.rand(a.batch, 1, 1, 1, generator=g)
    print(f"device={a.device} size={a.size} batch={a.batch} critic width={p.d_width} profile={a.profile} "
          f"torch={torch.__version__}")
    for when in ("at initialisation", f"after {a.train_steps} critic steps (fp32)"):
        if when != "at initialisation":
            for _ in range(a.train_steps):  # move the critic away from its initialisation
                loss = critic_loss(D(real), D(fake)) + p.gp_weight * gradient_penalty(D, real, fake, generator=g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        r = penalties(D, real, fake, alpha, a.device)
        (gp32, n32), (gp16, n16) = r["fp32"], r["bf16"]
        print(f"{when}: penalty fp32 {gp32:.6g}  bf16 {gp16:.6g}  |diff| {abs(gp16 - gp32):.3g} "
              f"(relative {abs(gp16 - gp32) / max(abs(gp32), 1e-12):.3g}); mean ||grad|| fp32 {n32:.6g}  "
              f"bf16 {n16:.6g}  relative diff {abs(n16 - n32) / max(abs(n32), 1e-12):.3g}")


if __name__ == "__main__":
    main()
