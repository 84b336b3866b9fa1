"""Differentiable augmentation for a critic that sees few images (Zhao et al. 2020, DiffAugment).

With a few hundred training images the critic soon knows them by heart: it scores the real
images high because it has seen them, not because they look real, and its gradient stops
telling the generator anything useful. DiffAugment shows the critic every image, real AND
generated, through the same random transformations, in both the critic's and the generator's
updates. The transformations are differentiable, so the generator's gradient passes through
them; because they touch real and generated images alike, the generator is not pushed to draw
shifted or cut-out images (augmenting only the real images would teach it exactly that).

Policies (a preset's `diffaug`, e.g. `("translation", "cutout")`, or `--set diffaug=translation,cutout`):
- `color`: a random brightness shift and contrast scale per image (and saturation for RGB);
- `translation`: a shift by up to 1/8 of the side, the uncovered border filled with 0 (mid-grey);
- `cutout`: a square of half the side set to 0 at a random place.
Every random number comes from the run's generator, so a resumed run draws the same ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _uniform(n: int, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(n, 1, 1, 1) uniform [0, 1) numbers drawn on the CPU from `gen`, on x's device and dtype."""
    return torch.rand(n, 1, 1, 1, generator=gen).to(x.device, x.dtype, non_blocking=True)


def color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = len(x)
    x = x + (_uniform(n, x, gen) - 0.5)                                       # brightness
    if x.shape[1] == 3:                                                        # saturation
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (_uniform(n, x, gen) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, x, gen) + 0.5) + mean                    # contrast


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), generator=gen).to(x.device, non_blocking=True)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=gen).to(x.device, non_blocking=True)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # a ring of zeros: indices past the edge land on it
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen).to(x.device, non_blocking=True)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen).to(x.device, non_blocking=True)
    # the square covers rows cy - ch//2 ... cy - ch//2 + ch - 1 (and the same for columns), clipped
    r = torch.arange(h, device=x.device)[None, :, None] - cy + ch // 2
    c = torch.arange(w, device=x.device)[None, None, :] - cx + cw // 2
    inside = (r >= 0) & (r < ch) & (c >= 0) & (c < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy, gen: torch.Generator) -> torch.Tensor:
    """x (N, C, H, W) through every transformation named in `policy` (in order), each drawn per
    image from `gen`."""
    for name in policy:
        x = FUNCTIONS[name](x, gen)
    return x.contiguous(memory_format=torch.channels_last)
